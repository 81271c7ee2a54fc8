"""
Stopping supervisord as systemd or a shutdown does (SIGTERM): every program
stops within its stopwaitsecs, and a worker in the middle of a message
finishes it first. The test ends its supervisord, so it has its own: one
Daphne and the split worker pools (a socket worker and a background
worker, README "Worker pools"), no nginx, on each database.

The message is made slow from outside, as a long transaction elsewhere
would: the test holds the write lock the worker needs to save it.
"""
import contextlib
import os
import re
import signal
import sqlite3
import time
from datetime import datetime

import psycopg2
import pytest
from asgi_redis import RedisChannelLayer

from tests.support.processes import ProcessGroup, chat_environment, start_redis
from tests.support.supervisor import ServerStack, start_supervisord, stopwaitsecs

from .conftest import assert_message_frame, wait_for

pytestmark = pytest.mark.integration

HELD_FOR = 3.0  # seconds the worker stays blocked after supervisord got SIGTERM


@pytest.fixture(scope="module")
def stack(tmp_path_factory, module_database):
    with ProcessGroup(tmp_path_factory.mktemp("supervisord-shutdown")) as group:
        _, redis_port = start_redis(group)
        env = chat_environment(group.workdir, redis_port, DATABASE_URL=module_database("chat_shutdown"))
        yield ServerStack(group, start_supervisord(group, env, daphnes=1, workers=0, split_pools=(1, 1)))


@contextlib.contextmanager
def write_lock(database_url):
    """Hold the lock a worker needs to save a message, until the block ends."""
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url[len("sqlite:///"):], isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
    else:
        connection = psycopg2.connect(database_url)
        connection.cursor().execute("LOCK TABLE chat_room IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        connection.rollback()
        connection.close()


class Frames:
    """The websocket.receive channel, through the layer's statistics."""

    def __init__(self, redis_url):
        self.layer = RedisChannelLayer(hosts=[redis_url])
        self.sent = self.statistics()["messages_count"]

    def statistics(self):
        return self.layer.channel_statistics("websocket.receive")

    def wait_until_taken(self):
        """The next chat frame is off the channel, in the socket worker's hands."""
        def taken():
            now = self.statistics()
            return now["messages_count"] > self.sent and now["messages_pending"] == 0
        wait_for(taken, what="a worker to take the frame")


def stop_times(supervisord_log):
    """{program: (seconds from supervisord's SIGTERM to its exit, how it
    ended)}, read from supervisord's log."""
    stamps = {}
    start = None
    for line in supervisord_log.splitlines():
        stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") if line[:4].isdigit() else None
        if "received SIGTERM" in line:
            start, stamps = stamp, {}
        found = re.search(r"(stopped|exited): (\w+) \((.*)\)", line)
        if start is not None and found:
            stamps[found.group(2)] = ((stamp - start).total_seconds(), found.group(3))
    return stamps


def test_sigterm_stops_every_program_in_time_and_a_message_in_hand_is_finished(stack, join, new_room, db):
    supervisord = stack.supervisord
    label = new_room("shutdown")
    alice = join(label)
    assert_message_frame(alice.say_all("alice", ["before"])[0], label, "alice", "before")
    children = supervisord.pids()
    frames = Frames(stack.env["REDIS_URL"])

    with write_lock(stack.env["DATABASE_URL"]):
        alice.say("alice", "finish me")
        frames.wait_until_taken()  # by the socket worker, which now waits for the lock
        time.sleep(0.5)
        os.kill(supervisord.pid, signal.SIGTERM)
        stopping = time.monotonic()
        time.sleep(HELD_FOR)
        assert supervisord.process.alive(), "supervisord did not wait for the busy worker"
    supervisord.process.popen.wait(max(stopwaitsecs("worker"), stopwaitsecs("daphne")) + 5)
    assert supervisord.process.returncode == 0, supervisord.logs()

    # The message in hand was finished: saved, so clients get it on reconnect.
    assert [row["message"] for row in db.messages(label)] == ["before", "finish me"]
    busy = [worker for worker in supervisord.workers if "Shutdown signal received while busy" in supervisord.log(worker)]
    assert busy == ["socket_worker_00"], supervisord.logs()

    # Each program exited by itself (status 0: no SIGKILL) within its
    # stopwaitsecs; the busy worker only once its message was done.
    stops = stop_times(supervisord.log())
    assert sorted(stops) == sorted(children), supervisord.log()
    for program, (seconds, how) in stops.items():
        assert how == "exit status 0", (program, how)
        assert seconds <= stopwaitsecs(program.rsplit("_", 1)[0]), (program, seconds)
    for worker in busy:
        assert stops[worker][0] >= HELD_FOR - 0.5, (worker, stops[worker])
    for pid in children.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert time.monotonic() - stopping < stopwaitsecs("worker")
