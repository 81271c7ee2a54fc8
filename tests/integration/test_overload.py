"""
Overload stays graceful: when the workers fall behind and websocket.receive
is full, Daphne answers the frames that do not fit `rate_limited` (naming
their client_id) instead of closing the socket; what did fit is saved once
the workers catch up, in order, and the resends after it too. Nothing is
lost in silence and no socket is closed.
"""
import pytest

from tests.support.chat_stack import chat_stack

from .conftest import assert_error_frame, assert_message_frame

pytestmark = [pytest.mark.integration, pytest.mark.one_database]

CAPACITY = 5


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with chat_stack(tmp_path_factory.mktemp("overload"), workers=1,
                    CHANNEL_LAYER_RECEIVE_CAPACITY=str(CAPACITY)) as running:
        yield running


def test_frames_that_do_not_fit_are_answered_and_the_socket_and_its_order_survive(stack, join, new_room, db):
    label = new_room("overload")
    sender, listener = join(label), join(label)
    for worker in list(stack.workers):  # the workers fall behind: here, all the way
        worker.stop()
        stack.workers.remove(worker)
    texts = ["frame %d" % number for number in range(CAPACITY + 3)]
    for number, text in enumerate(texts):
        sender.send_json({"handle": "alice", "message": text, "client_id": "c-%d" % number})
    refused = [sender.recv_error(timeout=10) for _ in range(3)]
    for frame, number in zip(refused, range(CAPACITY, CAPACITY + 3)):
        assert_error_frame(frame, "rate_limited", client_id="c-%d" % number, retry_after=1)

    stack.start_worker()  # caught up: what fitted is saved, in order
    saved = [assert_message_frame(listener.recv_json(timeout=30), label, "alice", text, "c-%d" % number)
             for number, text in enumerate(texts[:CAPACITY])]
    assert [frame["message"] for frame in sender.recv_many(CAPACITY, timeout=30)] == texts[:CAPACITY]
    # The refused ones are resent, as the protocol says, and the socket goes on in order.
    for number in range(CAPACITY, CAPACITY + 3):
        sender.send_json({"handle": "alice", "message": texts[number], "client_id": "c-%d" % number})
    sender.send_json({"handle": "alice", "message": "after", "client_id": "c-after"})
    later = [listener.recv_json(timeout=30) for _ in range(4)]
    assert [frame.get("message") for frame in later] == texts[CAPACITY:] + ["after"], later
    assert [row["message"] for row in db.messages(label)] == texts + ["after"]
    assert sender.connected and listener.connected
    assert saved[0]["previous_id"] is None
