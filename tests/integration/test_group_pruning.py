"""
A Group membership does not outlive its socket, even when no
websocket.disconnect ever reaches a worker:
- a socket Daphne closes for flooding (Daphne sends no disconnect for it;
  interface/disconnects.py sends one in its stead): gone at once;
- a socket whose disconnect expired in Redis while every worker was down,
  and the sockets of a Daphne killed with SIGKILL: dropped by the workers'
  pruner (redis_layer/socket_registry.py, chat/pruning.py) within the bound the
  docs state, 45 s;
and the pruner never drops a live socket. Sockets gone also lose their
channel sessions and leave the room's presence (runpresence). And hundreds
of sockets dropped at once each get their disconnect run, not only as many
as the stock channel capacity (100).
SQLite only: this is about Redis, Daphne and workers.
"""
import time

import pytest
import redis
import websocket

from tests.support.chat_stack import chat_stack, start_daphne

from .conftest import Database, Socket, assert_message_frame, chat_path, wait_for

pytestmark = pytest.mark.integration

PRUNED_WITHIN = 45 + 15  # the documented bound, and slack for a loaded machine
PRESENCE_WITHIN = 60     # presence drops a killed Daphne's sockets within this (docs/protocol.md)
LAYER_EXPIRY = 5


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chat-stack-pruning")
    # The shipped budgets, so that a flood closes its socket quickly; a short
    # message expiry, so that a disconnect waiting for a worker expires soon.
    with chat_stack(workdir, workers=2, shipped_budgets=True, CHANNEL_LAYER_EXPIRY=str(LAYER_EXPIRY),
                    DATABASE_URL="sqlite:///%s" % (workdir / "pruning.sqlite3")) as running:
        running.second_daphne, running.second_port = start_daphne(running.group, running.env, name="daphne-2")
        running.start_presence()
        yield running


@pytest.fixture(scope="module")
def db(stack):
    return Database(stack.env["DATABASE_URL"])


@pytest.fixture
def sockets():
    opened = []

    def _open(stack, label, port=None):
        url = "ws://127.0.0.1:%d%s" % (port or stack.http_port, chat_path(label))
        # A different client address each: the per-address budgets stay out
        # of it. (An entry that is no address would count as the peer's.)
        header = ["X-Forwarded-For: 10.0.%d.%d" % divmod(len(opened) + 1, 256)]
        sock = Socket(websocket.create_connection(url, timeout=10, header=header), url)
        opened.append(sock)
        return sock

    yield _open
    for sock in opened:
        sock.close()


def members(stack, db, label):
    [room] = db.rooms(label)
    return redis.StrictRedis(port=stack.redis_port).zcard("asgi::group:chat.room.%d" % room["id"])


def channel_sessions(stack):
    """Channel sessions live in Redis (chat/sessions.py), under their cache prefix."""
    return len(redis.StrictRedis(port=stack.redis_port).keys("chat-session:*"))


def chat_round(sender, listeners, label, text):
    sender.say("sender", text)
    frame = assert_message_frame(sender.recv_json(), label, "sender", text)
    for listener in listeners:
        assert listener.recv_json() == frame


def test_a_socket_closed_for_flooding_leaves_its_room_at_once(stack, db, new_room, sockets):
    label = new_room("flood")
    watcher, flooder = sockets(stack, label), sockets(stack, label)
    sessions = channel_sessions(stack)
    assert members(stack, db, label) == 2
    try:
        for number in range(60):  # 20 at once, then a debt of 5: closed (1013)
            flooder.say("flooder", "f%d" % number)
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        pass
    wait_for(lambda: members(stack, db, label) == 1, timeout=10, what="the flooder to leave its Group")
    wait_for(lambda: channel_sessions(stack) == sessions - 1, timeout=10, what="its channel session to go")
    chat_round(sockets(stack, label), [], label, "the room still works")


MASS = 300


def test_sockets_that_all_drop_at_once_each_get_their_disconnect_run(stack, db, new_room, sockets):
    """A restarted proxy or a network blip drops a Daphne's sockets in one
    go. Every disconnect must reach a worker, not only the first 100 (the
    stock channel capacity), or the rest linger until the pruner's pass."""
    label = new_room("mass-drop")

    def disconnects_run():
        return sum(stack.dispatch_count(worker, "websocket.disconnect") for worker in stack.workers)

    dropped = [sockets(stack, label) for _ in range(MASS)]
    wait_for(lambda: members(stack, db, label) == MASS, timeout=60, what="every socket to join")
    before = disconnects_run()
    for sock in dropped:
        sock.ws.shutdown()  # the TCP connection ends, with no closing handshake
    wait_for(lambda: disconnects_run() - before >= MASS, timeout=30, what="a disconnect for each socket")
    wait_for(lambda: members(stack, db, label) == 0, timeout=5, what="the room to be empty")


def test_a_socket_whose_disconnect_expired_is_pruned_and_live_ones_are_kept(stack, db, new_room, sockets):
    label = new_room("expired")
    staying, leaving = sockets(stack, label), sockets(stack, label)
    assert members(stack, db, label) == 2
    for worker in list(stack.workers):
        worker.stop()
        stack.workers.remove(worker)
    leaving.close()  # its disconnect waits in Redis, and expires there
    time.sleep(LAYER_EXPIRY + 2)
    stack.start_worker()
    stack.start_worker()
    assert members(stack, db, label) == 2
    started = time.monotonic()
    wait_for(lambda: members(stack, db, label) == 1, timeout=PRUNED_WITHIN, interval=0.5,
             what="the closed socket's membership to be pruned")
    print("pruned after %.1f s" % (time.monotonic() - started))
    chat_round(staying, [], label, "the staying socket still hears its room")


def test_the_sockets_of_a_killed_daphne_are_pruned_and_the_others_kept(stack, db, new_room, sockets):
    label = new_room("killed")
    local = sockets(stack, label)
    remote = [sockets(stack, label, port=stack.second_port) for _ in range(3)]
    local.presence_becomes([], 4, timeout=5)
    chat_round(local, remote, label, "across both Daphnes")
    assert members(stack, db, label) == 4
    sessions = channel_sessions(stack)

    stack.second_daphne.kill()  # SIGKILL: no disconnect for its sockets
    started = time.monotonic()
    wait_for(lambda: members(stack, db, label) == 1, timeout=PRUNED_WITHIN, interval=0.5,
             what="the killed Daphne's sockets to be pruned")
    print("pruned after %.1f s" % (time.monotonic() - started))
    wait_for(lambda: channel_sessions(stack) == sessions - 3, timeout=10, what="their channel sessions to go")
    # runpresence tells the room within the minute the docs promise.
    local.presence_becomes([], 1, timeout=max(1, PRESENCE_WITHIN - (time.monotonic() - started)))
    # Several pruning passes ran meanwhile; the live socket is still in its room.
    chat_round(local, [], label, "the other Daphne's socket still hears its room")
    chat_round(sockets(stack, label), [local], label, "and newcomers join it")
