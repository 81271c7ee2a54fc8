"""
Client-facing errors, and the one path from an error to a frame.

Consumers and views raise ClientError("code", "detail") for input the client
got wrong, or a room it may not enter. `error_frame` is the one reply a
socket gets for it:

    {"type": "error", "code": "message_too_long", "detail": "...", "client_id": ...}

and, for an error that ends the socket for good (CLOSE_CODES), the close
with its code. `reply_errors` sends it for every room-socket consumer (and
catches every other exception, logged and answered "internal_error");
`close_on_errors` for a failure outside @enforce_ordering; catch-up's
catchup_truncated goes the same way. The HTTP API answers the same shape as
its JSON body (json_errors). Why the decorators sit where they do:
chat/room_socket.py.
"""
import functools
import json
import logging

from channels.exceptions import ChannelSocketException, ConsumeLater, DenyConnection
from django.http import JsonResponse

from chat.models import is_client_id
from chat.wire import text_frame

log = logging.getLogger(__name__)


# The close codes of the errors that end a room socket for good
# (docs/protocol.md, "Errors"): the client stops, it does not reconnect.
CLOSE_CODES = {
    "session_key_refused": 4400,
    "forbidden": 4403,
    "room_not_found": 4404,
    "origin_not_allowed": 4406,
    "room_gone": 4410,
}


class ClientError(Exception):
    """Input the client can fix; `code` is stable, `detail` is for humans,
    `fields` are extra keys of the frame (e.g. retry_after); `status` is
    the HTTP status the API answers it with (json_errors)."""

    def __init__(self, code, detail, status=400, **fields):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.fields = fields

    @property
    def close_code(self):
        """The WebSocket close code the socket is closed with right after
        the frame, for an error that ends it for good; else None."""
        return CLOSE_CODES.get(self.code)

    def as_dict(self):
        """The error's shape, in a frame and as the API's JSON body."""
        return dict(self.fields, type="error", code=self.code, detail=self.detail)


class SavedButNotSent(Exception):
    """A chat message was saved, then sending it to the room failed."""

    def __init__(self, message_id):
        super().__init__(message_id)
        self.message_id = message_id


def internal_error(message, failure):
    """The error frame for an unexpected failure: for a chat frame it says
    whether the message was saved, so nobody resends what is already there."""
    if message.channel.name == "websocket.connect":
        return ClientError("internal_error", "The server failed to open this socket; reconnect.")
    if isinstance(failure, SavedButNotSent):
        return ClientError(
            "internal_error",
            "Your message was saved, but the server failed to send it to the room; "
            "others will see it when they reload or reconnect.",
            saved=True, id=failure.message_id)
    return ClientError("internal_error", "The server failed to handle that message; it was not saved.",
                       saved=False)


def client_id_of(message):
    """The client_id of the chat frame an error answers, if it has a valid one,
    so the client knows which of its messages failed."""
    if message.channel.name != "websocket.receive":
        return None
    try:
        client_id = json.loads(message.content.get("text") or "").get("client_id")
    except (ValueError, AttributeError, RecursionError):
        return None  # RecursionError: JSON nested too deeply to parse
    return client_id if is_client_id(client_id) else None


def error_frame(error, client_id=None, close=None):
    """The reply-channel message for `error`: its frame, naming the
    client_id of the frame it answers, and then the socket closed with the
    error's close code, or with `close` (True: code 1000) when given."""
    shape = error.as_dict()
    if client_id is not None:
        shape["client_id"] = client_id
    reply = text_frame(shape)
    close = close or error.close_code
    if close:
        reply["close"] = close
    return reply


def json_errors(view):
    """The HTTP API's reply_errors: a ClientError becomes its JSON error body."""

    @functools.wraps(view)
    def inner(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ClientError as error:
            return JsonResponse(error.as_dict(), status=error.status)

    return inner


def reply_errors(consumer):
    """Answer the sender with an error frame instead of raising. An
    exception escaping an @enforce_ordering consumer would leave the
    socket's order counter unadvanced (channels 1.1.8), and every later
    message of the socket would wait on its __wait__ channel until it expired."""

    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        try:
            return consumer(message, *args, **kwargs)
        except ClientError as error:
            log.debug("Rejected input on %s: %s (%s)", message.reply_channel, error.code, error.detail)
            reply, close = error, None
        except Exception as failure:
            log.exception("Consumer %s failed on %s", consumer.__name__, message.channel.name)
            # A socket whose connect failed half-way never joined its room:
            # close it, so the client reconnects instead of waiting in silence.
            reply, close = internal_error(message, failure), message.channel.name == "websocket.connect"
        try:
            # immediately: in order with the broadcasts (see chat/consumers.py).
            message.reply_channel.send(error_frame(reply, client_id_of(message), close), immediately=True)
        except message.reply_channel.channel_layer.ChannelFull:
            # Overload, not a fault: no traceback to format for each one.
            log.warning("Could not send %r to %s: its reply list is full", reply.code, message.reply_channel)
        except Exception:
            # The layer is down: the client will not hear about it, but the
            # worker and the socket's order live on.
            log.exception("Could not send %r to %s", reply.code, message.reply_channel)

    return inner


SOCKET_STATE_LOST = ClientError(
    "internal_error", "The server lost track of this socket; reconnect, and resend what got no answer.")


def close_on_errors(consumer):
    """Outside @enforce_ordering: a failure in channels' own session handling
    (a database that is down) leaves the socket's order unknown, and every
    later frame of it would wait for good. Answer internal_error and close
    the socket instead: the client reconnects with a fresh session."""

    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        try:
            return consumer(message, *args, **kwargs)
        except (ConsumeLater, DenyConnection, ChannelSocketException):
            raise  # channels' own control flow, for its worker loop
        except Exception:
            log.exception("Session handling failed on %s for %s", message.channel.name, message.reply_channel)
            try:
                message.reply_channel.send(error_frame(SOCKET_STATE_LOST, client_id_of(message), close=True),
                                           immediately=True)
            except Exception:
                log.exception("Could not close %s", message.reply_channel)

    return inner
