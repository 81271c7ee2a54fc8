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
import socket
import sqlite3
import time
import urllib.parse
from datetime import datetime, timedelta

import psycopg2
import pytest

from tests.support.chat_stack import chat_environment
from tests.support.processes import ProcessGroup
from tests.support.redis_server import start_redis
from tests.support.supervisor import ServerStack, start_supervisord, stopwaitsecs

from .conftest import assert_message_frame, wait_for

pytestmark = pytest.mark.integration

BUSY = "socket_worker_00"  # the one program that takes chat frames (split pools)


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


class ConsumerStarts:
    """Redis's MONITOR stream, to see a chat frame's consumer start: its
    first step reads the socket's channel session, which lives in Redis
    (chat/sessions.py, keys "chat-session:...")."""

    def __init__(self, redis_url):
        address = urllib.parse.urlparse(redis_url)
        self.connection = socket.create_connection((address.hostname, address.port), timeout=10)
        self.connection.sendall(b"MONITOR\r\n")
        self.buffer = b""
        assert self.line(time.monotonic() + 10) == b"+OK"

    def line(self, deadline):
        while b"\r\n" not in self.buffer:
            self.connection.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.connection.recv(65536)
            except socket.timeout:
                data = None
            if not data:
                pytest.fail("Redis's MONITOR stream ended or stood still")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def wait(self, timeout=10):
        """Until a channel session is read: a worker is inside a consumer."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(deadline)
            if b'"GET"' in line.upper() and b"chat-session" in line:
                return

    def close(self):
        self.connection.close()


def stopped_at(supervisord_log, program):
    """When supervisord noted `program`'s exit (its log's local time)."""
    for line in supervisord_log.splitlines():
        if re.search(r"(stopped|exited): %s \(" % re.escape(program), line):
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    raise AssertionError("%s never stopped:\n%s" % (program, supervisord_log))


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
    others = set(children) - {BUSY}
    consumers = ConsumerStarts(stack.env["REDIS_URL"])

    with write_lock(stack.env["DATABASE_URL"]):
        alice.say("alice", "finish me")
        consumers.wait()  # the socket worker is on it, and now waits for the lock
        consumers.close()
        os.kill(supervisord.pid, signal.SIGTERM)
        stopping = time.monotonic()
        # supervisord stops every other program, and waits for the busy one.
        wait_for(lambda: set(stop_times(supervisord.log())) >= others,
                 timeout=max(stopwaitsecs(program.rsplit("_", 1)[0]) for program in others) + 5,
                 what="supervisord to stop every program but %s" % BUSY)
        assert supervisord.process.alive(), "supervisord did not wait for the busy worker"
        assert BUSY not in stop_times(supervisord.log()), supervisord.log()
    released = datetime.now()  # supervisord's log is in local time too
    supervisord.process.popen.wait(max(stopwaitsecs("worker"), stopwaitsecs("daphne")) + 5)
    assert supervisord.process.returncode == 0, supervisord.logs()

    # The message in hand was finished: saved, so clients get it on reconnect.
    assert [row["message"] for row in db.messages(label)] == ["before", "finish me"]
    busy = [worker for worker in supervisord.workers if "Shutdown signal received while busy" in supervisord.log(worker)]
    assert busy == [BUSY], supervisord.logs()

    # Each program exited by itself (status 0: no SIGKILL) within its
    # stopwaitsecs; the busy worker only once its message was done.
    stops = stop_times(supervisord.log())
    assert sorted(stops) == sorted(children), supervisord.log()
    for program, (seconds, how) in stops.items():
        assert how == "exit status 0", (program, how)
        assert seconds <= stopwaitsecs(program.rsplit("_", 1)[0]), (program, seconds)
    # Only once the lock was released. Compared on the wall clock: supervisord
    # notes its own SIGTERM up to a second late (its loop wakes once a
    # second), so the offsets from it cannot be compared with our clock; it
    # notes an exit late too, never early.
    busy_stopped = stopped_at(supervisord.log(), BUSY)
    assert busy_stopped >= released - timedelta(seconds=0.05), (busy_stopped, released)
    for pid in children.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert time.monotonic() - stopping < stopwaitsecs("worker")
