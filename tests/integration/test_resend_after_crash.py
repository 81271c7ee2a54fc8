"""
A worker SIGKILLed in the middle of a message, on PostgreSQL: the sender
got no echo, reconnects and resends with the same client_id, and the
message is saved exactly once, whether or not the dead worker had got as
far as saving it.
"""
import threading
import time

import psycopg2
import pytest

from tests.support.processes import chat_stack

from .conftest import Database, assert_message_frame

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres_server):
    with chat_stack(tmp_path_factory.mktemp("chat-stack-crash"), workers=2,
                    DATABASE_URL=postgres_server.create_database("chat_crash")) as running:
        yield running


@pytest.fixture(scope="module")
def db(stack):
    return Database(stack.env["DATABASE_URL"])


def busy_worker(stack, before):
    """The worker that took a websocket.receive since `before` (dispatch counts)."""
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
    # (enforce_ordering), so the page reconnects and resends there.
    alice.assert_silent(1.0)
    alice.close()
    alice = join(label)
    alice.send_json({"handle": "alice", "message": "exactly once", "client_id": "crash-1"})
    frame = assert_message_frame(alice.recv_json(timeout=20), label, "alice", "exactly once", "crash-1")
    assert bob.recv_json() == frame
    alice.send_json({"handle": "alice", "message": "exactly once", "client_id": "crash-1"})  # and again
    assert alice.recv_json() == frame
    assert [row["message"] for row in db.messages(label)] == ["exactly once"]
