"""
Split worker pools: `runworker --exclude-channels=chat.background` runs
the sockets and the pages, chat messages included (saved and broadcast in
one trip); `runworker --only-channels=chat.background` runs the work that
waits for no socket, the mention notifications. With only the socket
pool, the chat works and mentions wait in Redis until a background worker
starts.
"""
import json

import pytest
import websocket

from tests.support.chat_stack import chat_stack

from .actors import signed_up
from .conftest import assert_message_frame

pytestmark = [pytest.mark.integration, pytest.mark.one_database]

SOCKET_POOL = ["--exclude-channels=chat.background"]
BACKGROUND_POOL = ["--only-channels=chat.background"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Daphne + Redis + two socket-pool workers; the tests add and remove the background pool."""
    with chat_stack(tmp_path_factory.mktemp("split-pools"), workers=2, worker_args=SOCKET_POOL) as running:
        yield running


def background_pool(stack):
    """The two background workers, started if they are not running."""
    while len(stack.workers) < 4:
        stack.start_worker(args=BACKGROUND_POOL)
    return stack.workers[2:4]


def stop_background_pool(stack):
    for worker in stack.workers[2:]:
        worker.stop()
    del stack.workers[2:]


def test_the_socket_pool_alone_serves_the_chat_and_mentions_wait_for_the_background_pool(stack, new_room, db):
    stop_background_pool(stack)
    sender, sender_name = signed_up(stack)
    mentioned, mentioned_name = signed_up(stack)
    label = new_room("split")
    notices = websocket.create_connection(stack.ws_url("/notifications/"), timeout=10,
                                          header=[mentioned.cookie_header()])
    chat, listener = sender.socket(label), mentioned.socket(label)
    try:
        chat.send(json.dumps({"message": "x" * 2001, "client_id": "too-long"}))
        error = json.loads(chat.recv())
        assert (error["type"], error["code"], error["client_id"]) == ("error", "message_too_long", "too-long"), error
        text = "hello @%s" % mentioned_name
        chat.send(json.dumps({"message": text, "client_id": "m1"}))
        echo = assert_message_frame(json.loads(chat.recv()), label, sender_name, text, "m1", user=True)
        assert json.loads(listener.recv()) == echo
        assert [row["message"] for row in db.messages(label)] == [text]

        notices.settimeout(1.5)
        with pytest.raises(websocket.WebSocketTimeoutException):
            notices.recv()  # no background worker yet: the mention waits in Redis
        background_pool(stack)
        notices.settimeout(30)
        assert json.loads(notices.recv()) == {"type": "mention", "room": label, "message_id": echo["id"],
                                              "from": sender_name, "message": text}
    finally:
        for ws in (notices, chat, listener):
            ws.close()


def test_split_pools_serve_the_chat_in_order_and_the_background_pool_takes_no_sockets(stack, connect, new_room, db):
    background_workers = background_pool(stack)
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
    for worker in background_workers:
        for channel in ("websocket.connect", "websocket.receive", "http.request"):
            assert stack.dispatch_count(worker, channel) == 0, (worker, channel)
