"""
Bad frames through the real stack: exactly one error frame, to the sender
only; nothing saved, nothing broadcast; the socket and the workers live on.
"""
import json
import os

import pytest

from .conftest import assert_error_frame, assert_message_frame

pytestmark = pytest.mark.integration


def frame(handle="alice", message="hello", **extra):
    data = {"handle": handle, "message": message}
    data.update(extra)
    return json.dumps(data)


# (code, what the client sends as a text frame); binary frames have their own test.
BAD_TEXT_FRAMES = {
    "not-json": ("invalid_json", "this is not json"),
    "truncated-json": ("invalid_json", '{"handle": "alice", "message": "hi"'),
    "empty-frame": ("invalid_json", ""),
    "array": ("invalid_message", '["alice", "hello"]'),
    "string": ("invalid_message", '"hello"'),
    "number": ("invalid_message", "42"),
    "null": ("invalid_message", "null"),
    "missing-message": ("invalid_message", json.dumps({"handle": "alice"})),
    "missing-handle": ("invalid_message", json.dumps({"message": "hello"})),
    "extra-key": ("invalid_message", frame(room="other")),
    "handle-not-string": ("invalid_message", json.dumps({"handle": 7, "message": "hello"})),
    "message-not-string": ("invalid_message", json.dumps({"handle": "alice", "message": ["hello"]})),
    "message-null": ("invalid_message", json.dumps({"handle": "alice", "message": None})),
    "blank-handle": ("invalid_message", frame(handle="   \t ")),
    "blank-message": ("invalid_message", frame(message=" \n  ")),
    "handle-too-long": ("invalid_message", frame(handle="h" * 65)),
    "handle-too-long-after-trim": ("invalid_message", frame(handle="  " + "h" * 65 + "  ")),
    "nul-in-message": ("invalid_message", frame(message="a\u0000b")),
    "bell-in-handle": ("invalid_message", frame(handle="al\u0007ice")),
    "escape-in-message": ("invalid_message", frame(message="\u001b[31mred")),
    "del-in-message": ("invalid_message", frame(message="a\u007fb")),
    "message-too-long": ("message_too_long", frame(message="m" * 2001)),
    "message-too-long-after-trim": ("message_too_long", frame(message=" " + "m" * 2001 + " ")),
    "frame-over-16k": ("message_too_long", frame(message="m" * (17 * 1024))),
}


def assert_rejected_then_usable(sender, observer, label, db, code, send_bad):
    """
    send_bad() gets the sender one error frame with `code`; the observer
    gets nothing; nothing is saved; the next valid frame works for both.
    """
    send_bad()
    assert_error_frame(sender.recv_json(), code)
    assert db.messages(label) == []
    observer.assert_silent()

    sender.say("alice", "still works")
    # The next frame of each socket is the valid message: no second error
    # frame for the sender, no stray frame for the observer.
    first = assert_message_frame(sender.recv_json(), label, "alice", "still works")
    assert observer.recv_json() == first
    assert [(row["id"], row["message"]) for row in db.messages(label)] == [(first["id"], "still works")]
    sender.assert_silent(0.3)
    # Silence from a socket that is still served: its next frame is answered.
    sender.say("alice", "and again")
    assert_message_frame(sender.recv_json(), label, "alice", "and again")


@pytest.mark.parametrize("code, text", list(BAD_TEXT_FRAMES.values()), ids=list(BAD_TEXT_FRAMES))
def test_bad_text_frame_gets_one_error_to_the_sender_only_and_nothing_is_saved(
        new_room, join, db, code, text):
    label = new_room("bad")
    sender, observer = join(label), join(label)
    assert_rejected_then_usable(sender, observer, label, db, code, lambda: sender.send_text(text))


def test_binary_frame_gets_binary_not_supported_and_nothing_is_saved(new_room, join, db):
    label = new_room("binary")
    sender, observer = join(label), join(label)
    payload = frame().encode("utf-8")  # even valid JSON is refused as binary
    assert_rejected_then_usable(sender, observer, label, db, "binary_not_supported",
                                lambda: sender.send_binary(payload))


def test_several_bad_frames_in_a_row_each_get_exactly_one_error_in_order(new_room, join, db):
    label = new_room("burst")
    sender, observer = join(label), join(label)
    sender.send_text("nope")
    sender.send_text("[]")
    sender.send_text(frame(message="m" * 2001))
    sender.send_binary(b"\x00\x01")
    codes = [sender.recv_error()["code"] for _ in range(4)]
    assert codes == ["invalid_json", "invalid_message", "message_too_long", "binary_not_supported"]
    sender.say("alice", "after the burst")
    first = assert_message_frame(sender.recv_json(), label, "alice", "after the burst")
    assert observer.recv_json() == first
    assert len(db.messages(label)) == 1


def written_since(process, offset):
    """What `process` logged after its log was `offset` bytes long."""
    with open(process.log_path, "rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", errors="replace")


def test_workers_survive_bad_input(stack, new_room, join, db):
    # The stack is shared: only what its processes log during this test counts.
    processes = stack.workers + [stack.daphne]
    offsets = [os.path.getsize(process.log_path) for process in processes]
    label = new_room("survive")
    sender = join(label)
    for code, text in BAD_TEXT_FRAMES.values():
        sender.send_text(text)
        assert_error_frame(sender.recv_json(), code)
    sender.send_binary(b"\xff\xfe")
    assert_error_frame(sender.recv_json(), "binary_not_supported")

    assert [worker.alive() for worker in stack.workers] == [True, True], stack.logs()
    assert stack.daphne.alive()
    # And the socket still chats.
    sender.say("alice", "alive")
    assert_message_frame(sender.recv_json(), label, "alice", "alive")
    assert len(db.messages(label)) == 1
    # Bad input is a client error, never a server one: no traceback logged
    # (every frame above was answered, so whatever it logged is written).
    for process, offset in zip(processes, offsets):
        assert "Traceback" not in written_since(process, offset), process.describe()
