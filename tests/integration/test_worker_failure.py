"""
Losing a worker, or Redis for a while: the rest keeps serving HTTP and
chat, and workers wait for Redis instead of dying. Destructive, so it has
a stack of its own.
"""
import http.client
import signal
import socket
import time

import pytest

from tests.support.chat_stack import chat_stack
from tests.support.redis_server import start_redis

from .conftest import assert_message_frame, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory, module_database):
    """A private stack: these tests kill and start workers."""
    with chat_stack(tmp_path_factory.mktemp("chat-stack-failure"), workers=2, DATABASE_URL=module_database("chat_failure")) as running:
        yield running


@pytest.fixture(autouse=True)
def two_workers(stack):
    """Each test starts from the same stack, whatever the one before it
    killed or started: Redis up, two live workers and no others."""
    if not stack.redis.alive():
        stack.redis, _ = start_redis(stack.group, port=stack.redis_port)
    stack.workers[:] = [worker for worker in stack.workers if worker.alive()]
    while len(stack.workers) > 2:
        stack.workers.pop().stop()
    while len(stack.workers) < 2:
        stack.start_worker()
    return list(stack.workers)


def wait_until_every_worker_waits(stack):
    """Every worker (and Daphne's reading thread) blocked in Redis waiting
    for a message: none is still finishing one. A worker killed in the
    middle of a frame is test_database_restart's case, not these."""
    def blocked_clients():
        with socket.create_connection(("127.0.0.1", stack.redis_port), timeout=5) as sock:
            sock.sendall(b"INFO clients\r\n")
            data = b""
            while b"blocked_clients:" not in data or not data.endswith(b"\r\n"):
                data += sock.recv(65536)
        return int(data.split(b"blocked_clients:")[1].split(b"\r\n")[0])
    wait_for(lambda: blocked_clients() >= len(stack.workers) + 1, timeout=10,
             what="every worker to wait for a message")


def chat_round(sender, listeners, label, text):
    sender.say("alice", text)
    frame = assert_message_frame(sender.recv_json(), label, "alice", text)
    for listener in listeners:
        assert listener.recv_json() == frame
    return frame


def test_remaining_worker_keeps_serving_after_the_other_is_killed(stack, new_room, join, http_get, db):
    label = new_room("survivor")
    before_alice, before_bob = join(label), join(label)
    chat_round(before_alice, [before_bob], label, "before the crash")

    victim, survivor = stack.workers
    wait_until_every_worker_waits(stack)
    victim.kill()  # SIGKILL, by pid, while it waits for a message
    assert victim.returncode == -signal.SIGKILL
    assert survivor.alive()

    # Sockets opened before the crash keep chatting (several frames, so
    # some would have gone to the dead worker if it were still counted).
    for number in range(10):
        chat_round(before_alice, [before_bob], label, "after the crash %d" % number)

    # New sockets and HTTP work too.
    newcomer = join(label, after=0)
    replayed = newcomer.recv_many(11)
    assert [frame["message"] for frame in replayed] == (
        ["before the crash"] + ["after the crash %d" % n for n in range(10)])
    assert newcomer.recv_json() == {"type": "caught_up", "room": label, "last_id": replayed[-1]["id"]}
    chat_round(newcomer, [before_alice, before_bob], label, "from the newcomer")
    for _ in range(5):
        assert http_get("/").status == 200
    assert http_get("/%s/" % label).status == 200
    assert len(db.messages(label)) == 12
    assert survivor.alive()


def test_a_replacement_worker_takes_over_from_killed_ones(stack, new_room, join, db, two_workers):
    wait_until_every_worker_waits(stack)
    for worker in two_workers:
        worker.kill()  # SIGKILL, by pid, while it waits for a message
    replacement = stack.start_worker()
    # Only the replacement is left to run anything: the handshakes, each
    # frame, its echo and its row are its work.
    label = new_room("replacement")
    alice, bob = join(label), join(label)
    texts = ["with the replacement %d" % number for number in range(10)]
    frames = [chat_round(alice, [bob], label, text) for text in texts]
    rows = db.messages(label)
    assert [row["message"] for row in rows] == texts
    assert [row["id"] for row in rows] == [frame["id"] for frame in frames]
    assert stack.dispatch_count(replacement, "websocket.receive") == len(texts)
    assert replacement.alive()


def test_a_redis_restart_is_survived_and_open_sockets_rejoin(stack, new_room, join, http_get):
    label = new_room("redis-restart")
    alice, bob = join(label), join(label)
    before = chat_round(alice, [bob], label, "before the restart")
    workers = [worker for worker in stack.workers if worker.alive()]
    unreachable = [worker.log_text().count("Channel layer unreachable") for worker in workers]
    stack.redis.stop()  # its data is gone with it: the layer is not persistent
    # No worker can be reached: /healthz fails fast, so that a load
    # balancer takes this Daphne out (a 5xx, or the connection closed).
    started = time.monotonic()
    try:
        status = http_get("/healthz", timeout=5).status
    except (OSError, http.client.HTTPException):
        status = None
    assert time.monotonic() - started < 5 and (status is None or status >= 500), status
    # Stock runworker exits with the first ConnectionError; these log it
    # and try again: wait for each to have tried twice.
    wait_for(lambda: all(worker.log_text().count("Channel layer unreachable") >= seen + 2
                         for worker, seen in zip(workers, unreachable)),
             timeout=15, what="every worker to try Redis again")
    assert all(worker.alive() for worker in workers), stack.logs()
    stack.redis, _ = start_redis(stack.group, port=stack.redis_port)

    # Redis forgot the room's Group: Daphne closes the sockets that were in
    # it, so that their clients reconnect and rejoin instead of hearing nothing.
    for sock in (alice, bob):
        deadline = time.monotonic() + 20
        while sock.connected and time.monotonic() < deadline:
            try:
                sock.ws.settimeout(1)
                sock.ws.recv()
            except Exception:
                pass
        assert not sock.connected, "%r is still open, and deaf" % sock
    carol = join(label)
    said = [chat_round(carol, [], label, "after the restart %d" % n) for n in range(3)]
    backs = [join(label, after=before["id"]) for _ in ("alice", "bob")]
    for back in backs:
        assert back.recv_many(3) == said
        assert back.recv_json() == {"type": "caught_up", "room": label, "last_id": said[-1]["id"]}
    chat_round(carol, backs, label, "welcome back")
    assert http_get("/").status == 200
    assert http_get("/healthz").status == 200
    assert all(worker.alive() for worker in workers)
