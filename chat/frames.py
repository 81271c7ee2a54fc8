"""
Parsing what clients send: WebSocket chat frames and numeric parameters.

Every rule of the wire contract (docs/protocol.md) that concerns input
lives here, so the WebSocket consumer and the HTTP API reject bad input
with the same codes.
"""
import collections
import json
import re
from urllib.parse import parse_qs

from chat.errors import ClientError
from chat.models import HANDLE_MAX_LENGTH, MESSAGE_MAX_LENGTH, is_client_id

REQUIRED_KEYS = frozenset(["handle", "message"])
OPTIONAL_KEYS = frozenset(["client_id"])

ChatFrame = collections.namedtuple("ChatFrame", "handle message client_id")

# Larger numbers are no id or count this service has, and would overflow
# the database's integer (a 500 instead of a client error).
LARGEST_NUMBER = 2 ** 63 - 1

# Reject absurd frames before spending a JSON parse on them. Generous: a
# 2000-character message escaped as \uXXXX is 12000 characters of JSON.
MAX_FRAME_LENGTH = 16 * 1024

# C0 control characters other than tab and newline, and DEL; and lone
# surrogates, which JSON's \uD800 escapes produce but UTF-8 cannot encode.
# Neither can be stored (PostgreSQL refuses NUL; no database takes a
# surrogate), so each must be a client error here, not a database error later.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def parse_chat_frame(content, username=None):
    """
    Returns a ChatFrame (handle and message trimmed, client_id or None)
    from a websocket.receive message's content, or raises ClientError.
    For a signed-in sender (`username`) the handle is the username: the
    frame may omit "handle", and whatever it holds there is ignored.
    """
    text = content.get("text")
    if text is None:
        if content.get("bytes") is not None:
            raise ClientError("binary_not_supported", "Send chat messages as text frames of JSON.")
        raise ClientError("invalid_message", "The frame carried no text.")
    if len(text) > MAX_FRAME_LENGTH:
        raise ClientError(
            "message_too_long",
            "A message may have at most %d characters." % MESSAGE_MAX_LENGTH,
        )
    try:
        data = json.loads(text)
    except ValueError:
        raise ClientError("invalid_json", "The frame is not valid JSON.")
    except RecursionError:
        # A few thousand "[" fit in a frame and exhaust the parser's stack.
        raise ClientError("invalid_json", "The frame's JSON is nested too deeply.")
    if not isinstance(data, dict):
        raise ClientError("invalid_message", 'Send a JSON object: {"handle": ..., "message": ...}.')
    if username is not None:
        data["handle"] = username
    keys = set(data)
    missing = sorted(REQUIRED_KEYS - keys)
    extra = sorted(keys - REQUIRED_KEYS - OPTIONAL_KEYS)
    if missing or extra:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if extra:
            problems.append("unexpected " + ", ".join(extra))
        raise ClientError("invalid_message", "Keys must be handle, message and optionally client_id (%s)."
                          % "; ".join(problems))
    client_id = data.get("client_id")
    if client_id is not None and not is_client_id(client_id):
        raise ClientError("invalid_message", "client_id must be 1 to 64 letters, digits, '_' or '-'.")
    handle, message = data["handle"], data["message"]
    if not isinstance(handle, str) or not isinstance(message, str):
        raise ClientError("invalid_message", "handle and message must be strings.")
    handle, message = handle.strip(), message.strip()
    if _CONTROL_CHARACTERS.search(handle) or _CONTROL_CHARACTERS.search(message):
        raise ClientError("invalid_message", "handle and message must not contain control characters "
                          "or unpaired surrogates.")
    if not 1 <= len(handle) <= HANDLE_MAX_LENGTH:
        raise ClientError(
            "invalid_message",
            "handle must have 1 to %d characters after trimming spaces." % HANDLE_MAX_LENGTH,
        )
    if not message:
        raise ClientError("invalid_message", "message must not be empty.")
    if len(message) > MESSAGE_MAX_LENGTH:
        raise ClientError(
            "message_too_long",
            "A message may have at most %d characters." % MESSAGE_MAX_LENGTH,
        )
    return ChatFrame(handle, message, client_id)


def parse_count(name, raw, default, maximum=LARGEST_NUMBER, minimum=0, code="invalid_parameter"):
    """A whole number from a query parameter, within [minimum, maximum]."""
    if raw is None or raw == "":
        return default
    # Plain ASCII digits only: int() would also take " 3", "+3" and "٣".
    # Longer than the largest number allowed: refused before int(), which
    # raises past 4300 digits (a 500 instead of a client error).
    plain = isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= len(str(maximum))
    value = int(raw) if plain else None
    if value is None or not minimum <= value <= maximum:
        bounds = "from %d to %d" % (minimum, maximum)
        raise ClientError(code, "%s must be a whole number %s." % (name, bounds))
    return value


def query_param(content, name):
    """One parameter from a websocket.connect message's query string, or None."""
    query_string = content.get("query_string") or ""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin1")
    values = parse_qs(query_string).get(name)
    return values[-1] if values else None
