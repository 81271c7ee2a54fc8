"""
Split worker pools: `runworker --exclude-channels=chat.messages` runs the
sockets and the pages, `runworker --only-channels=chat.messages` saves and
broadcasts. With only the socket pool, frames are checked and answered
but nothing is saved or broadcast; the jobs wait in Redis and run, in
order, once a message worker starts.
"""
import pytest

from tests.support.processes import chat_stack

from .conftest import assert_error_frame, assert_message_frame

pytestmark = pytest.mark.integration

SOCKET_POOL = ["--exclude-channels=chat.messages"]
MESSAGE_POOL = ["--only-channels=chat.messages"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Daphne + Redis + two socket-pool workers; the tests add the message pool."""
    with chat_stack(tmp_path_factory.mktemp("split-pools"), workers=2, worker_args=SOCKET_POOL) as running:
        yield running


def message_pool(stack):
    """The two message-pool workers, started on first use."""
    while len(stack.workers) < 4:
        stack.start_worker(args=MESSAGE_POOL)
    return stack.workers[2:4]


def test_the_socket_pool_alone_answers_errors_but_saves_and_broadcasts_nothing(stack, connect, new_room, db):
    assert len(stack.workers) == 2, "this test must run before the message pool starts"
    label = new_room("split")  # its page ran in the socket pool
    sender, listener = connect("/chat/%s/" % label), connect("/chat/%s/" % label)
    sender.send_json({"handle": "alice", "message": "x" * 2001, "client_id": "too-long"})
    assert_error_frame(sender.recv_error(), "message_too_long", client_id="too-long")
    sender.send_json({"handle": "alice", "message": "queued one", "client_id": "q1"})
    sender.send_json({"handle": "alice", "message": "queued two", "client_id": "q2"})
    listener.assert_silent(window=2.0)
    sender.assert_silent(window=0.1)
    assert db.messages(label) == []

    # The message pool starts: the queued jobs run, in order.
    message_workers = message_pool(stack)
    frames = listener.recv_many(2, timeout=30)
    assert [frame["message"] for frame in frames] == ["queued one", "queued two"]
    assert [frame["client_id"] for frame in sender.recv_many(2)] == ["q1", "q2"]
    assert [row["message"] for row in db.messages(label)] == ["queued one", "queued two"]
    for worker in message_workers:
        assert stack.dispatch_count(worker, "websocket.receive") == 0
        assert stack.dispatch_count(worker, "http.request") == 0


def test_split_pools_serve_the_chat_in_order_with_both_message_workers_busy(stack, connect, new_room, db):
    message_workers = message_pool(stack)
    socket_workers = stack.workers[:2]
    before = [stack.dispatch_count(worker, "chat.messages") for worker in message_workers]
    label = new_room("split-order")
    sender, listener = connect("/chat/%s/" % label), connect("/chat/%s/" % label)
    texts = ["msg %03d" % number for number in range(80)]
    for text in texts:
        sender.say("alice", text)
    frames = listener.recv_many(len(texts), timeout=40)
    for frame in frames:
        assert_message_frame(frame, label, "alice", frame["message"])
    assert [frame["message"] for frame in frames] == texts
    assert [row["message"] for row in db.messages(label)] == texts
    handled = [stack.dispatch_count(worker, "chat.messages") - earlier
               for worker, earlier in zip(message_workers, before)]
    assert all(count > 0 for count in handled), handled
    for worker in socket_workers:
        assert stack.dispatch_count(worker, "chat.messages") == 0
