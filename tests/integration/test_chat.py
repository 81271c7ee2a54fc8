"""Chat through the real stack: broadcast within a room, persistence, what a frame carries."""
from datetime import datetime

import pytest

from .conftest import assert_message_frame

pytestmark = pytest.mark.integration


def test_message_reaches_every_socket_in_the_room_and_no_other_room(new_room, join):
    lobby, elsewhere = new_room("lobby"), new_room("elsewhere")
    alice, bob = join(lobby), join(lobby)
    carol = join(elsewhere)

    alice.say("alice", "hello lobby")
    to_alice = assert_message_frame(alice.recv_json(), lobby, "alice", "hello lobby")
    to_bob = assert_message_frame(bob.recv_json(), lobby, "alice", "hello lobby")
    assert to_alice == to_bob

    carol.say("carol", "hello elsewhere")
    assert_message_frame(carol.recv_json(), elsewhere, "carol", "hello elsewhere")

    # No cross-talk, in either direction...
    carol.assert_silent()
    alice.assert_silent()
    bob.assert_silent()
    # ...on sockets that are served: each one's next frame is its own room's next message.
    alice.say("alice", "still here")
    echo = assert_message_frame(alice.recv_json(), lobby, "alice", "still here")
    assert bob.recv_json() == echo
    carol.say("carol", "still here")
    assert_message_frame(carol.recv_json(), elsewhere, "carol", "still here")


def test_every_socket_can_send_and_everyone_in_the_room_receives_it(new_room, join):
    label = new_room("trio")
    sockets = [join(label) for _ in range(3)]
    for number, sender in enumerate(sockets):
        sender.say("user%d" % number, "message %d" % number)
        frames = [sock.recv_json() for sock in sockets]
        for frame in frames:
            assert_message_frame(frame, label, "user%d" % number, "message %d" % number)
        assert len({frame["id"] for frame in frames}) == 1


def test_valid_message_is_saved_trimmed_with_the_id_and_time_of_its_frame(new_room, join, db):
    label = new_room("persist")
    sender, listener = join(label), join(label)

    sender.say("  alice \t", "\n  hello, world  \n")
    frame = assert_message_frame(sender.recv_json(), label, "alice", "hello, world")
    assert listener.recv_json() == frame

    room = db.rooms(label)
    assert len(room) == 1
    rows = db.messages(label)
    assert [(row["id"], row["room_id"], row["handle"], row["message"]) for row in rows] == [
        (frame["id"], room[0]["id"], "alice", "hello, world")]
    assert rows[0]["timestamp"] == datetime.fromisoformat(frame["timestamp"])


def test_ids_increase_and_match_the_saved_rows(new_room, join, db):
    label = new_room("ids")
    sender = join(label)
    texts = ["first", "second", "third"]
    frames = []
    for text in texts:
        sender.say("alice", text)
        frames.append(assert_message_frame(sender.recv_json(), label, "alice", text))
    ids = [frame["id"] for frame in frames]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [(row["id"], row["message"]) for row in db.messages(label)] == list(zip(ids, texts))


def test_html_in_a_message_is_sent_verbatim_in_the_json_frame(new_room, join, db):
    label = new_room("html")
    sender, listener = join(label), join(label)
    html = '<script>alert("x")</script> <b>bold</b> & &amp; \'quotes\''
    sender.say("<i>mallory</i>", html)
    frame = assert_message_frame(listener.recv_json(), label, "<i>mallory</i>", html)
    assert sender.recv_json() == frame
    assert db.messages(label)[0]["message"] == html


def test_longest_allowed_handle_and_message_are_accepted_after_trimming(new_room, join, db):
    label = new_room("limits")
    sender = join(label)
    handle, message = "h" * 64, "m" * 2000
    sender.say("   %s   " % handle, "  %s  " % message)
    assert_message_frame(sender.recv_json(), label, handle, message)
    assert [(row["handle"], row["message"]) for row in db.messages(label)] == [(handle, message)]


def test_unicode_text_and_room_label_round_trip(new_room, join, db):
    label = new_room("café-ünï")
    sender, listener = join(label), join(label)
    sender.say("zoë", "héllo 🌍 — 你好\ttabbed\nnewline")
    frame = assert_message_frame(listener.recv_json(), label, "zoë", "héllo 🌍 — 你好\ttabbed\nnewline")
    assert sender.recv_json() == frame
    assert db.messages(label)[0]["message"] == "héllo 🌍 — 你好\ttabbed\nnewline"


def test_a_closed_socket_leaves_the_room_and_the_others_keep_chatting(new_room, join):
    label = new_room("leave")
    leaver, stayer = join(label), join(label)
    leaver.close()
    stayer.say("stayer", "still here")
    assert_message_frame(stayer.recv_json(), label, "stayer", "still here")
    newcomer = join(label)
    newcomer.say("newcomer", "hi")
    assert_message_frame(stayer.recv_json(), label, "newcomer", "hi")
    assert_message_frame(newcomer.recv_json(), label, "newcomer", "hi")
