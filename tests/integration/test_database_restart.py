"""
Faults on PostgreSQL, on a stack and server of their own, so no other test
sees them:
- PostgreSQL restarted under a running stack: the workers keep their
  processes, the next messages are answered and saved, and only the frame
  sent while the server was down gets an internal_error (its socket is
  closed; resent after reconnecting, it is saved once);
- a worker SIGKILLed in the middle of a message: the sender got no echo,
  reconnects and resends with the same client_id, and the message is saved
  exactly once, whether or not the dead worker had got as far as saving it.
"""
import time

import psycopg2
import pytest

from tests.support.postgres import private_postgres
from tests.support.chat_stack import chat_stack

from .conftest import Database, assert_error_frame, assert_message_frame

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    with private_postgres(tmp_path_factory.mktemp("postgres-restart")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres):
    with chat_stack(tmp_path_factory.mktemp("chat-stack-db-restart"), workers=2,
                    DATABASE_URL=postgres.create_database("chat_restart")) as running:
        yield running


@pytest.fixture(scope="module")
def db(stack):
    return Database(stack.env["DATABASE_URL"])


def test_workers_ride_out_a_postgresql_restart(stack, postgres, new_room, join, http_get, db):
    label = new_room("db-restart")
    alice, bob = join(label), join(label)
    pids = [worker.pid for worker in stack.workers]
    for number in range(4):  # both workers hold a connection now
        alice.say("alice", "before %d" % number)
        assert bob.recv_message()["message"] == "before %d" % number
        alice.recv_message()

    postgres.stop()
    # The frame sent while the server is down cannot be saved: its sender is
    # told so (internal_error, saved: false) and resends it, here on a new
    # socket, as the page does when the socket is closed.
    alice.send_json({"handle": "alice", "message": "while it is down", "client_id": "down-1"})
    assert_error_frame(alice.recv_json(timeout=30), "internal_error", client_id="down-1", saved=False)
    health = http_get("/healthz")
    assert (health.status, health.json()) == (503, {
        "status": "unavailable", "checks": {"database": "unavailable (OperationalError)", "channel_layer": "ok"}})
    time.sleep(1)
    postgres.start()
    alice = join(label)

    alice.send_json({"handle": "alice", "message": "while it is down", "client_id": "down-1"})
    for number in range(6):
        alice.say("alice", "after %d" % number)
    frames = [assert_message_frame(alice.recv_json(timeout=20), label, "alice", "while it is down", "down-1")]
    frames += [assert_message_frame(alice.recv_json(timeout=20), label, "alice", "after %d" % n) for n in range(6)]
    assert [bob.recv_json() for _ in frames] == frames  # bob's socket lived through it
    assert http_get("/api/rooms/%s/messages/" % label).status == 200
    assert [worker.pid for worker in stack.workers] == pids
    assert all(worker.alive() for worker in stack.workers)
    saved = [row["message"] for row in db.messages(label)]
    assert saved == ["before %d" % n for n in range(4)] + ["while it is down"] + ["after %d" % n for n in range(6)]


def busy_worker(stack, before):
    """The worker that took a chat frame (the save) since `before` (dispatch counts)."""
    for worker, count in zip(stack.workers, before):
        if stack.dispatch_count(worker, "websocket.receive") > count:
            return worker
    return None


def test_a_message_whose_worker_was_killed_is_saved_once_after_a_resend(stack, new_room, join, db):
    label = new_room("crash")
    alice, bob = join(label), join(label)
    before = [stack.dispatch_count(worker, "websocket.receive") for worker in stack.workers]
    # Hold the rooms' table: the worker that takes the frame blocks inside the save.
    locker = psycopg2.connect(stack.env["DATABASE_URL"])
    with locker.cursor() as cursor:
        cursor.execute("LOCK TABLE chat_room IN EXCLUSIVE MODE")
    alice.send_json({"handle": "alice", "message": "exactly once", "client_id": "crash-1"})
    deadline = time.monotonic() + 10
    while busy_worker(stack, before) is None:
        assert time.monotonic() < deadline, "no worker took the frame"
        time.sleep(0.05)
    victim = busy_worker(stack, before)
    victim.kill()
    locker.commit()
    locker.close()
    stack.workers.remove(victim)
    stack.start_worker()

    # No echo. That socket's next frames would wait for the lost one
    # (@enforce_ordering), so the page reconnects and resends there.
    alice.assert_silent(1.0)
    alice.close()
    alice = join(label)
    alice.send_json({"handle": "alice", "message": "exactly once", "client_id": "crash-1"})
    frame = assert_message_frame(alice.recv_json(timeout=20), label, "alice", "exactly once", "crash-1")
    assert bob.recv_json() == frame
    alice.send_json({"handle": "alice", "message": "exactly once", "client_id": "crash-1"})  # and again
    assert alice.recv_json() == frame
    assert [row["message"] for row in db.messages(label)] == ["exactly once"]
