"""
Per-socket ordering with two workers: frames of one socket are handled in
the order sent (@enforce_ordering), saved in that order, and every socket
in the room receives them in that order.
"""
import pytest

from .conftest import assert_message_frame

pytestmark = pytest.mark.integration

COUNT = 100

def numbered(prefix, count=COUNT):
    return ["%s %03d" % (prefix, number) for number in range(count)]


def test_frames_of_one_socket_are_saved_in_the_order_sent_with_two_workers(stack, new_room, join, db):
    assert len(stack.workers) == 2 and all(worker.alive() for worker in stack.workers)
    label = new_room("saved-order")
    sender = join(label)
    texts = numbered("msg")
    for text in texts:
        sender.say("alice", text)
    frames = sender.recv_many(COUNT, timeout=30)
    assert sorted(frame["message"] for frame in frames) == texts  # all arrived, once
    rows = db.messages(label)
    assert [row["message"] for row in rows] == texts  # ids ascend in the order sent
    assert sorted(frame["id"] for frame in frames) == [row["id"] for row in rows]


def test_both_workers_handle_frames_of_one_socket(stack, new_room, join):
    # Makes the ordering tests meaningful: with one worker idle, order
    # would hold trivially.
    def counts():
        return [stack.dispatch_count(worker, "websocket.receive") for worker in stack.workers]

    before = counts()
    label = new_room("both")
    sender = join(label)
    for text in numbered("spread", 40):
        sender.say("alice", text)
    sender.recv_many(40, timeout=30)
    handled = [after - earlier for after, earlier in zip(counts(), before)]
    assert all(count > 0 for count in handled), (handled, stack.logs())
    assert sum(handled) >= 40


def test_rapid_frames_of_one_socket_reach_every_socket_in_the_order_sent(stack, new_room, join):
    label = new_room("order")
    sender, listener = join(label), join(label)
    texts = numbered("msg")
    for text in texts:
        sender.say("alice", text)
    to_sender = sender.recv_many(COUNT, timeout=30)
    to_listener = listener.recv_many(COUNT, timeout=30)
    for frame, text in zip(to_listener, texts):
        assert_message_frame(frame, label, "alice", frame["message"])
    assert [frame["message"] for frame in to_listener] == texts
    assert [frame["message"] for frame in to_sender] == texts
    assert to_sender == to_listener


def send_interleaved(alice, bob, count=50):
    alice_texts, bob_texts = numbered("alice", count), numbered("bob", count)
    for alice_text, bob_text in zip(alice_texts, bob_texts):
        alice.say("alice", alice_text)
        bob.say("bob", bob_text)
    return alice_texts, bob_texts


def own_sequence(items, handle):
    return [item["message"] for item in items if item["handle"] == handle]


def test_two_interleaving_senders_each_have_their_frames_saved_in_order(new_room, join, db):
    label = new_room("interleave-saved")
    alice, bob = join(label), join(label)
    alice_texts, bob_texts = send_interleaved(alice, bob)
    frames = alice.recv_many(100, timeout=30)
    assert sorted(own_sequence(frames, "alice")) == alice_texts
    assert sorted(own_sequence(frames, "bob")) == bob_texts
    rows = db.messages(label)
    assert own_sequence(rows, "alice") == alice_texts
    assert own_sequence(rows, "bob") == bob_texts


def test_two_interleaving_senders_each_keep_their_own_order_for_every_socket(new_room, join):
    label = new_room("interleave")
    alice, bob, listener = join(label), join(label), join(label)
    alice_texts, bob_texts = send_interleaved(alice, bob)
    for sock in (alice, bob, listener):
        frames = sock.recv_many(100, timeout=30)
        assert own_sequence(frames, "alice") == alice_texts, sock
        assert own_sequence(frames, "bob") == bob_texts, sock


def test_error_replies_and_broadcasts_of_one_socket_arrive_in_the_order_sent(new_room, join, db):
    label = new_room("mixed")
    sender = join(label)
    expected = []
    for number in range(50):
        if number % 2:
            sender.send_text("not json %d" % number)
            expected.append(("error", "invalid_json"))
        else:
            sender.say("alice", "good %02d" % number)
            expected.append(("message", "good %02d" % number))
    frames = sender.recv_many(50, timeout=30)
    received = [(f["type"], f["code"] if f["type"] == "error" else f["message"]) for f in frames]
    assert received == expected
    assert [row["message"] for row in db.messages(label)] == [
        text for kind, text in expected if kind == "message"]
