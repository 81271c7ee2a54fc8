"""
What lets a client lose nothing on an at-most-once layer, with two workers:
every message names the room's message before it (previous_id), and a
frame resent with the same client_id is never saved twice.
"""
import pytest

pytestmark = pytest.mark.integration

SENDERS = 4
EACH = 25


def test_concurrent_senders_get_one_unbroken_chain_of_previous_ids(stack, new_room, join, db):
    label = new_room("chain")
    listener = join(label)
    senders = [join(label) for _ in range(SENDERS)]
    # Interleave four sockets, so both workers save messages of the room at once.
    for number in range(EACH):
        for index, sender in enumerate(senders):
            sender.say("s%d" % index, "m%03d" % number)
    frames = listener.recv_many(SENDERS * EACH, timeout=60)
    rows = db.messages(label)
    assert sorted(frame["id"] for frame in frames) == [row["id"] for row in rows]
    # Whatever order the broadcasts arrived in, sorting by id gives a chain in
    # which each message names the one before it: ids commit in order.
    chain = sorted(frames, key=lambda frame: frame["id"])
    assert chain[0]["previous_id"] is None
    assert [frame["previous_id"] for frame in chain[1:]] == [frame["id"] for frame in chain[:-1]]


def test_a_resend_on_another_socket_returns_the_saved_message(stack, new_room, join, db):
    label = new_room("resend")
    first_tab, bystander = join(label), join(label)
    first_tab.send_json({"handle": "alice", "message": "only once", "client_id": "msg-1"})
    original = first_tab.recv_message()
    assert original["client_id"] == "msg-1"
    assert bystander.recv_message() == original
    first_tab.close()

    # The page reconnected (a new socket) and resends what got no echo.
    second_tab = join(label)
    second_tab.send_json({"handle": "alice", "message": "only once", "client_id": "msg-1"})
    assert second_tab.recv_message() == original
    assert bystander.recv_message() == original
    assert [row["message"] for row in db.messages(label)] == ["only once"]
