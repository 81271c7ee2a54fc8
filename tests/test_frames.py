"""The rules for what a client may send (chat.frames)."""
import json

import pytest

from chat.errors import ClientError
from chat.frames import parse_chat_frame, parse_count, query_param


def parse(obj=None, text=None):
    return parse_chat_frame({"text": text if text is not None else json.dumps(obj)})


def code_of(**kwargs):
    with pytest.raises(ClientError) as caught:
        parse(**kwargs)
    return caught.value.code


def test_valid_frame_is_trimmed():
    assert parse({"handle": " alice ", "message": "\thello\n"}) == ("alice", "hello", None)


def test_client_id_is_optional_and_kept():
    assert parse({"handle": "a", "message": "m", "client_id": "tab-1_42"}).client_id == "tab-1_42"
    assert parse({"handle": "a", "message": "m", "client_id": None}).client_id is None


@pytest.mark.parametrize("client_id", ["", "x" * 65, "a b", "a/b", 5, ["a"], "é" * 3 + "\n"])
def test_malformed_client_id_is_refused(client_id):
    assert code_of(obj={"handle": "a", "message": "m", "client_id": client_id}) == "invalid_message"


@pytest.mark.parametrize("text, code", [
    ("{", "invalid_json"),
    ("", "invalid_json"),
    ("null", "invalid_message"),
    ('"a string"', "invalid_message"),
    ("[]", "invalid_message"),
    ('{"handle": "a"}', "invalid_message"),
    ('{"message": "a"}', "invalid_message"),
    ('{"handle": "a", "message": "b", "room": "c"}', "invalid_message"),
    ('{"handle": 1, "message": "b"}', "invalid_message"),
    ('{"handle": "a", "message": null}', "invalid_message"),
    ('{"handle": "a", "message": ["b"]}', "invalid_message"),
    ('{"handle": "  ", "message": "b"}', "invalid_message"),
    ('{"handle": "a", "message": " "}', "invalid_message"),
    ('{"handle": "a", "message": "nul\\u0000byte"}', "invalid_message"),
    ('{"handle": "bell\\u0007", "message": "b"}', "invalid_message"),
    ('{"handle": "a", "message": "lone \\udc00 surrogate"}', "invalid_message"),
    ('{"handle": "\\ud800", "message": "b"}', "invalid_message"),
])
def test_bad_frames_are_refused_with_a_code(text, code):
    assert code_of(text=text) == code


def test_handle_length_limit():
    assert parse({"handle": "h" * 64, "message": "m"})[0] == "h" * 64
    assert code_of(obj={"handle": "h" * 65, "message": "m"}) == "invalid_message"


def test_message_length_limit_counts_after_trimming():
    assert parse({"handle": "h", "message": "  " + "m" * 2000 + "  "})[1] == "m" * 2000
    assert code_of(obj={"handle": "h", "message": "m" * 2001}) == "message_too_long"


def test_huge_frame_is_refused_before_parsing():
    assert code_of(text="[" * 100000) == "message_too_long"


def test_tabs_and_newlines_inside_a_message_are_kept():
    assert parse({"handle": "h", "message": "a\tb\nc"})[1] == "a\tb\nc"


def test_binary_frame_is_refused():
    with pytest.raises(ClientError) as caught:
        parse_chat_frame({"bytes": b"\x00"})
    assert caught.value.code == "binary_not_supported"


@pytest.mark.parametrize("raw, expected", [(None, 7), ("", 7), ("0", 0), ("42", 42)])
def test_parse_count_accepts_whole_numbers(raw, expected):
    assert parse_count("after", raw, default=7) == expected


@pytest.mark.parametrize("raw", ["-1", "1.5", "x", " 3", "+3", "\u0663", "1e3", "501", "9" * 5000])
def test_parse_count_refuses_the_rest(raw):
    with pytest.raises(ClientError) as caught:
        parse_count("limit", raw, default=1, maximum=500)
    assert caught.value.code == "invalid_parameter"
    assert "limit" in caught.value.detail


def test_query_param_reads_bytes_and_text_query_strings():
    assert query_param({"query_string": b"after=12&x=1"}, "after") == "12"
    assert query_param({"query_string": "after=3"}, "after") == "3"
    assert query_param({}, "after") is None


@pytest.mark.parametrize("frame", [
    {"message": "hi"},
    {"handle": "someone else", "message": "hi"},
    {"handle": ["not", "a", "string"], "message": "hi"},
    {"handle": "", "message": "hi"},
])
def test_a_signed_in_senders_handle_is_the_username_whatever_the_frame_holds(frame):
    parsed = parse_chat_frame({"text": json.dumps(frame)}, username="alice")
    assert (parsed.handle, parsed.message) == ("alice", "hi")
