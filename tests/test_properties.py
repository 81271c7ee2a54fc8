"""
Property-based tests (hypothesis) of everything that parses client input:
chat frames, numeric parameters, query strings, socket paths and the API.
Whatever arrives, the answer is a value or a ClientError, never a crash;
and for a chat frame, the answer docs/protocol.md gives it.

The rules are written out here from docs/protocol.md ("Sending",
"Errors", "Room labels"), not imported from chat/, so that a limit or a
rule the code gets wrong is not the test's too. Where the document leaves
a case open (a "letter" outside ASCII, C1 controls, a lone surrogate, 16
KiB in characters or bytes), either answer is allowed; every other frame
has one right fate.
"""
import json
import re

import pytest
from channels.asgi import channel_layers
from channels.message import Message
from hypothesis import HealthCheck, example, given, settings, strategies as st
from hypothesis.extra.django import TestCase

from chat.errors import ClientError
from chat.frames import parse_chat_frame, parse_count, query_param
from chat.models import Room

# docs/protocol.md
HANDLE_MAX = 64                     # "1 to 64 characters after trimming white space"
MESSAGE_MAX = 2000                  # "1 to 2000 characters after trimming white space"
FRAME_MAX = 16 * 1024               # "or the frame is over 16 KiB"
LARGEST = 2 ** 63 - 1               # "a whole number from 0 to 2⁶³−1"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # "control characters other than tab and newline"
OPEN_CHARACTERS = re.compile(r"[\x80-\x9f\ud800-\udfff]")  # C1 controls, lone surrogates: not named
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
LABEL = re.compile(r"[A-Za-z0-9_-]{1,50}")


def letters_digits(value, longest):
    """1 to `longest` of letters, digits, "_", "-" in any script: what the
    document's "letters, digits" may also mean beyond ASCII."""
    return 1 <= len(value) <= longest and all(c.isalnum() or c in "_-" for c in value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def outcome(text):
    """The frame's fate: ("ok", (handle, message, client_id)) or ("error", code); anything else raises."""
    try:
        return "ok", tuple(parse_chat_frame({"text": text}))
    except ClientError as error:
        return "error", error.code


def allowed(text):
    """The fates docs/protocol.md allows a text frame: a set of ("ok",
    (handle, message, client_id)) and ("error", code)."""
    must = set()   # the rules the frame breaks: one of their codes answers it
    may = set()    # codes the document leaves open for this frame

    def errors(*more):
        return {("error", code) for code in must | may | set(more)}

    if len(text) > FRAME_MAX:
        must.add("message_too_long")
    elif len(text.encode("utf-8", "surrogatepass")) > FRAME_MAX:
        may.add("message_too_long")  # 16 KiB counted in bytes
    try:
        data = json.loads(text)
    except RecursionError:
        return errors("invalid_json")
    except ValueError as error:
        if "integer string conversion" in str(error):
            may.add("invalid_message")  # valid JSON; Python refuses ints over 4300 digits
        return errors("invalid_json")
    if not isinstance(data, dict):
        return errors("invalid_message")
    keys = set(data)
    if not {"handle", "message"} <= keys or keys - {"handle", "message", "client_id"}:
        must.add("invalid_message")
    client_id = data.get("client_id")
    if "client_id" in data and client_id is None:
        may.add("invalid_message")  # null: "optional" may mean absent, or refused
    elif client_id is not None and not (isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id)):
        if isinstance(client_id, str) and letters_digits(client_id, 64):
            may.add("invalid_message")
        else:
            must.add("invalid_message")
    handle, message = data.get("handle"), data.get("message")
    if not isinstance(handle, str) or not isinstance(message, str):
        return errors("invalid_message")
    raw = handle + message
    handle, message = handle.strip(), message.strip()
    if CONTROL.search(handle + message):
        must.add("invalid_message")
    elif CONTROL.search(raw):
        may.add("invalid_message")  # controls that trimming takes away (\x0b, \x1c...): refused or trimmed
    if not 1 <= len(handle) <= HANDLE_MAX or not message:
        must.add("invalid_message")
    if len(message) > MESSAGE_MAX:
        must.add("message_too_long")
    if must:
        return errors()
    if OPEN_CHARACTERS.search(handle + message):
        may.add("invalid_message")
    return {("ok", (handle, message, client_id))} | errors()


def assert_answered_as_documented(text):
    got = outcome(text)
    assert got in allowed(text), (text[:200], len(text), got, allowed(text))
    return got


near_the_frame_limit = st.tuples(st.text(max_size=40), st.integers(FRAME_MAX - 2, FRAME_MAX + 2)).map(
    lambda pair: pair[0].ljust(pair[1]))  # JSON allows the trailing spaces


@given(st.text(max_size=3000) | near_the_frame_limit)
def test_any_text_frame_is_answered_as_the_protocol_says(text):
    assert_answered_as_documented(text)


@given(json_values, st.booleans())
def test_any_json_value_is_answered_as_the_protocol_says(value, ensure_ascii):
    assert_answered_as_documented(json.dumps(value, ensure_ascii=ensure_ascii))


@given(st.integers(min_value=1, max_value=20000), st.sampled_from("[{"))
def test_deeply_nested_json_is_invalid_json_not_a_crash(depth, opener):
    text = (opener if opener == "[" else '{"a":') * depth
    kind, code = outcome(text)
    assert (kind, code) in {("error", "invalid_json"), ("error", "message_too_long")}


@given(st.binary(max_size=200))
def test_invalid_utf8_as_a_binary_frame_is_refused(data):
    try:
        parse_chat_frame({"bytes": data})
    except ClientError as error:
        assert error.code == "binary_not_supported"
    else:
        raise AssertionError("a binary frame was accepted")


WHITESPACE = st.sampled_from(["", "", " ", "  ", "\t", "\n", "\xa0", "\u3000", "\u2028"])
NON_ASCII = st.characters(min_codepoint=0x80)


def padded(core):
    return st.tuples(WHITESPACE, core, WHITESPACE).map("".join)


def repeated(characters, sizes):
    """One character many times: long texts without hypothesis drawing each one."""
    return st.tuples(characters, sizes).map(lambda pair: pair[0] * pair[1])


handles = padded(
    st.text(max_size=HANDLE_MAX + 6)
    | st.text(NON_ASCII, min_size=1, max_size=HANDLE_MAX + 2)
    | repeated(st.characters(), st.integers(HANDLE_MAX - 1, HANDLE_MAX + 1)))
messages = padded(
    st.text(max_size=40)
    | st.text(NON_ASCII, min_size=1, max_size=40)
    | repeated(st.characters(), st.integers(MESSAGE_MAX - 2, MESSAGE_MAX + 2))
    | repeated(st.characters(), st.integers(FRAME_MAX - 6, FRAME_MAX + 2)))
ABSENT = object()
client_ids = (st.just(ABSENT) | st.none() | st.from_regex(r"[A-Za-z0-9_-]{1,70}", fullmatch=True)
              | st.text(max_size=66) | st.integers() | st.sampled_from([["a"], {"id": "a"}, True]))


@given(handle=handles, message=messages, client_id=client_ids, ensure_ascii=st.booleans(),
       extra=st.sampled_from([{}, {}, {}, {"room": "lobby"}]))
@example(handle="Zoë", message="hello", client_id=ABSENT, ensure_ascii=False, extra={})
@example(handle="中文", message="hello", client_id="c-1", ensure_ascii=True, extra={})
@example(handle="ß" * HANDLE_MAX, message="x" * MESSAGE_MAX, client_id=ABSENT, ensure_ascii=False, extra={})
@example(handle="a", message="x" * (MESSAGE_MAX + 1), client_id=ABSENT, ensure_ascii=True, extra={})
@example(handle="a" * (HANDLE_MAX + 1), message="hi", client_id=ABSENT, ensure_ascii=True, extra={})
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_a_chat_frame_is_saved_or_refused_as_the_protocol_says(handle, message, client_id, ensure_ascii, extra):
    frame = dict(extra, handle=handle, message=message)
    if client_id is not ABSENT:
        frame["client_id"] = client_id
    assert_answered_as_documented(json.dumps(frame, ensure_ascii=ensure_ascii))


@pytest.mark.parametrize("frame, fate", [
    ({"handle": "Zoë", "message": "hello"}, ("ok", ("Zoë", "hello", None))),
    ({"handle": "中" * 64, "message": "é"}, ("ok", ("中" * 64, "é", None))),
    ({"handle": " Ж ", "message": " \tx\n "}, ("ok", ("Ж", "x", None))),
    ({"handle": "a\tb", "message": "line\nline"}, ("ok", ("a\tb", "line\nline", None))),
    ({"handle": "  " + "a" * 64 + "  ", "message": "x" * 2000}, ("ok", ("a" * 64, "x" * 2000, None))),
    ({"handle": "a", "message": "m", "client_id": "A-z_09" + "x" * 58}, ("ok", ("a", "m", "A-z_09" + "x" * 58))),
    ({"handle": "é" * 65, "message": "hi"}, ("error", "invalid_message")),
    ({"handle": " ", "message": "hi"}, ("error", "invalid_message")),
    ({"handle": "a", "message": "   "}, ("error", "invalid_message")),
    ({"handle": "a\x00", "message": "hi"}, ("error", "invalid_message")),
    ({"handle": "a", "message": "h\x1bi"}, ("error", "invalid_message")),
    ({"handle": "a", "message": "x" * 2001}, ("error", "message_too_long")),
    ({"handle": "a", "message": "ü" * 2001}, ("error", "message_too_long")),
    ({"handle": "a", "message": "hi", "client_id": "x" * 65}, ("error", "invalid_message")),
    ({"handle": "a", "message": "hi", "client_id": "a.b"}, ("error", "invalid_message")),
    ({"handle": "a", "message": "hi", "client_id": ""}, ("error", "invalid_message")),
    ({"handle": "a", "message": "hi", "client_id": 5}, ("error", "invalid_message")),
    ({"handle": "a", "message": "hi", "room": "x"}, ("error", "invalid_message")),
    ({"handle": "a"}, ("error", "invalid_message")),
    ({"handle": 1, "message": "hi"}, ("error", "invalid_message")),
])
def test_the_documented_edges_of_a_chat_frame(frame, fate):
    text = json.dumps(frame, ensure_ascii=False)
    assert fate in allowed(text)  # the oracle agrees with the table
    assert outcome(text) == fate


def test_a_frame_over_16_kib_is_refused_whatever_it_holds():
    text = json.dumps({"handle": "a", "message": "x"}) + " " * FRAME_MAX
    assert outcome(text) == ("error", "message_too_long")


@given(st.text(max_size=40) | st.integers().map(str) | st.integers(LARGEST - 3, LARGEST + 3).map(str))
@example("0")
@example(str(LARGEST))
@example(str(LARGEST + 1))
def test_any_count_parameter_is_the_whole_number_it_spells_or_a_client_error(raw):
    try:
        value = parse_count("after", raw, default=7)
    except ClientError as error:
        assert error.code == "invalid_parameter"
        value = None
    if raw == "":
        assert value == 7  # no value: the default
    elif re.fullmatch(r"[0-9]+", raw, re.ASCII) and int(raw) <= LARGEST:
        assert value == int(raw)
    elif not re.fullmatch(r"\s*\+?\d+\s*", raw):
        # Not a number at all (a sign, a point, a letter) or over 2⁶³−1;
        # " 3", "+3" and digits of other scripts the document leaves open.
        assert value is None, (raw, value)
    if value is not None:
        assert 0 <= value <= LARGEST


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_query_string_yields_a_string_or_nothing(query_string):
    value = query_param({"query_string": query_string}, "after")
    assert value is None or isinstance(value, str)


def test_paths_that_route_to_a_room_carry_a_valid_label():
    layer = channel_layers["default"]

    @settings(max_examples=300)
    @given(st.text(max_size=80) | st.sampled_from([
        "/chat/../admin/", "/chat/a/../b/", "/chat/a%2Fb/", "/chat//", "/chat/a/b/", "/chat/ a/",
        "/chat/a\n/", "/chat/café/", "/chat/" + "x" * 51 + "/", "/CHAT/a/", "//chat/a/",
    ]))
    def check(path):
        consumer, kwargs = layer.router.match(
            Message({"path": path, "reply_channel": "test!reply"}, "websocket.connect", layer))
        if consumer.__name__ == "ws_connect":
            label = kwargs["label"]
            assert LABEL.fullmatch(label) or letters_digits(label, 50), (path, kwargs)
        else:
            assert consumer.__name__ == "reject_unrouted_socket", (path, consumer)

    check()


class ApiParameterProperties(TestCase):
    @classmethod
    def setUpTestData(cls):
        Room.objects.create(label="lobby").post("h", "hello")

    @settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
    @given(after=st.text(max_size=30), limit=st.text(max_size=30))
    def test_any_after_and_limit_get_200_or_400_never_500(self, after, limit):
        response = self.client.get("/api/rooms/lobby/messages/", {"after": after, "limit": limit})
        assert response.status_code in (200, 400), (after, limit, response.status_code)
        if response.status_code == 400:
            assert response.json()["code"] == "invalid_parameter"
