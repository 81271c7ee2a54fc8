"""
PostgreSQL restarted under a running stack: the workers keep their
processes, the next messages are answered and saved, and only the frame
sent while the server was down gets an internal_error (its socket is
closed; resent after reconnecting, it is saved once). A server of its own,
so no other test sees the outage.
"""
import time

import pytest

from tests.support.postgres import private_postgres
from tests.support.processes import chat_stack

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
    # The frame sent while the server is down: its socket's state (a channel
    # session, in the database) cannot be read, so the socket is told and
    # closed, and its client reconnects, as the page does.
    alice.send_json({"handle": "alice", "message": "while it is down", "client_id": "down-1"})
    assert_error_frame(alice.recv_json(timeout=30), "internal_error", client_id="down-1")
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
