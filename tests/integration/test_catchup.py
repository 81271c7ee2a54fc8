"""Reconnecting with ?after=<id>: the missed messages first, in order, the
end of the catch-up, then live ones."""
import pytest

from .conftest import assert_error_frame, assert_message_frame

pytestmark = pytest.mark.integration


def say_and_collect(sender, label, texts, *listeners):
    """Send each text from `sender`; return the frames, checking every listener got the same."""
    frames = []
    for text in texts:
        sender.say("alice", text)
        sent = assert_message_frame(sender.recv_json(), label, "alice", text)
        for listener in listeners:
            assert listener.recv_json() == sent
        frames.append(sent)
    return frames


def assert_caught_up(frame, label, last_id):
    assert frame == {"type": "caught_up", "room": label, "last_id": last_id}


def test_reconnect_with_after_gets_exactly_the_missed_messages_in_order_then_live_ones(
        new_room, join):
    label = new_room("catchup")
    alice, bob = join(label), join(label)
    seen = say_and_collect(alice, label, ["one", "two", "three"], bob)
    last_seen = seen[-1]["id"]

    bob.close()
    missed = say_and_collect(alice, label, ["four", "five", "six"])

    bob = join(label, after=last_seen)
    caught_up = bob.recv_many(3)
    assert caught_up == missed
    assert [frame["message"] for frame in caught_up] == ["four", "five", "six"]
    assert_caught_up(bob.recv_json(), label, missed[-1]["id"])

    # Then live: the very next frame is the new message, no duplicate or extra.
    live = say_and_collect(alice, label, ["seven"])[0]
    assert bob.recv_json() == live
    bob.assert_silent()
    # Silent, and served: the room's next message is its next frame.
    say_and_collect(alice, label, ["eight"], bob)


def test_after_zero_replays_the_whole_room(new_room, join):
    label = new_room("replay")
    alice = join(label)
    history = say_and_collect(alice, label, ["a", "b", "c", "d"])
    newcomer = join(label, after=0)
    assert newcomer.recv_many(4) == history
    assert_caught_up(newcomer.recv_json(), label, history[-1]["id"])
    newcomer.assert_silent()
    say_and_collect(alice, label, ["e"], newcomer)  # silent, and served


def test_after_the_last_id_replays_nothing(new_room, join):
    label = new_room("uptodate")
    alice = join(label)
    last = say_and_collect(alice, label, ["a", "b"])[-1]
    bob = join(label, after=last["id"])
    assert_caught_up(bob.recv_json(), label, last["id"])
    bob.assert_silent()
    live = say_and_collect(alice, label, ["c"])[0]
    assert bob.recv_json() == live


def test_catch_up_only_replays_the_sockets_own_room(new_room, join):
    mine, other = new_room("mine"), new_room("other")
    in_mine, in_other = join(mine), join(other)
    say_and_collect(in_other, other, ["not for you"])
    expected = say_and_collect(in_mine, mine, ["for you"])
    late = join(mine, after=0)
    assert late.recv_many(1) == expected
    assert_caught_up(late.recv_json(), mine, expected[-1]["id"])
    late.assert_silent()
    say_and_collect(in_mine, mine, ["live"], late)  # silent, and served


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "+3"])
def test_malformed_after_gets_invalid_after_and_the_socket_stays_open(new_room, join, db, after):
    label = new_room("badafter")
    alice = join(label)
    say_and_collect(alice, label, ["before"])

    bob = join(label, query="after=%s" % after.replace("+", "%2B"))
    assert_error_frame(bob.recv_json(), "invalid_after")
    bob.assert_silent()  # no catch-up after a bad `after`

    bob.say("bob", "still connected")
    frame = assert_message_frame(bob.recv_json(), label, "bob", "still connected")
    assert alice.recv_json() == frame
    assert [row["message"] for row in db.messages(label)] == ["before", "still connected"]


def test_a_long_catch_up_sends_the_default_hundred_then_points_at_the_api(stack, new_room, join, db, http_get):
    label = new_room("bigcatchup")
    texts = ["seeded %03d" % number for number in range(300)]
    db.seed_messages(label, texts)
    rows = db.messages(label)
    assert len(rows) == 300

    reader = join(label, after=0)
    frames = reader.recv_many(100)
    assert [frame["message"] for frame in frames] == texts[:100]
    assert [frame["id"] for frame in frames] == [row["id"] for row in rows[:100]]
    assert_error_frame(reader.recv_json(), "catchup_truncated", after=rows[99]["id"])
    reader.assert_silent()
    say_and_collect(reader, label, ["live"])  # silent, and served
    rest = http_get("/api/rooms/%s/messages/?after=%d&limit=500" % (label, rows[99]["id"])).json()["messages"]
    assert [message["message"] for message in rest] == texts[100:] + ["live"]
    assert all(worker.alive() for worker in stack.workers)
