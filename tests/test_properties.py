"""
Property-based tests (hypothesis) of everything that parses client input:
chat frames, numeric parameters, query strings, socket paths and the API.
Whatever arrives, the answer is a value or a ClientError, never a crash.
"""
import json
import re

from channels.asgi import channel_layers
from channels.message import Message
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra.django import TestCase

from chat.errors import ClientError
from chat.frames import LARGEST_NUMBER, parse_chat_frame, parse_count, query_param
from chat.models import CLIENT_ID_PATTERN, LABEL_PATTERN, MESSAGE_MAX_LENGTH, Room

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def outcome(text):
    """The frame's fate: ("ok", frame) or ("error", code); anything else raises."""
    try:
        return "ok", parse_chat_frame({"text": text})
    except ClientError as error:
        return "error", error.code


@given(st.text(max_size=3000))
def test_any_text_frame_is_parsed_or_refused_with_a_code(text):
    assert outcome(text)[0] in ("ok", "error")


@given(json_values)
def test_any_json_value_is_parsed_or_refused_with_a_code(value):
    assert outcome(json.dumps(value))[0] in ("ok", "error")


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


@given(handle=st.text(min_size=1, max_size=64), message=st.text(min_size=1, max_size=MESSAGE_MAX_LENGTH),
       client_id=st.none() | st.from_regex(CLIENT_ID_PATTERN, fullmatch=True))
def test_an_accepted_frame_holds_exactly_what_the_rules_allow(handle, message, client_id):
    frame = {"handle": handle, "message": message}
    if client_id is not None:
        frame["client_id"] = client_id
    kind, parsed = outcome(json.dumps(frame))
    if kind == "ok":
        assert parsed.handle == handle.strip() and parsed.message == message.strip()
        assert 1 <= len(parsed.handle) <= 64 and 1 <= len(parsed.message) <= MESSAGE_MAX_LENGTH
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", parsed.handle + parsed.message)
        assert parsed.client_id == client_id


@given(st.text(max_size=40) | st.integers().map(str))
def test_any_count_parameter_is_a_bounded_number_or_a_client_error(raw):
    try:
        value = parse_count("after", raw, default=0)
    except ClientError as error:
        assert error.code == "invalid_parameter"
    else:
        assert 0 <= value <= LARGEST_NUMBER


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
            assert re.fullmatch(LABEL_PATTERN, kwargs["label"]), (path, kwargs)
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
