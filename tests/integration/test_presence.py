"""
Presence pushed by `manage.py runpresence` over real sockets: who is in a
room (signed-in users once, anonymous sockets counted) within 2 s of a
connect or a disconnect, and within 60 s of a Daphne killed outright; the
process outlives a Redis restart and stops promptly on SIGTERM.
"""
import os
import signal
import sys
import time

import pytest
import websocket

from tests.support.processes import REPO_ROOT, chat_stack, start_daphne, start_redis

from .conftest import Socket, chat_path
from .actors import signed_up

pytestmark = pytest.mark.integration

WITHIN = 2 + 1  # the promise, and a second for a loaded machine
KILLED_WITHIN = 60


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chat-stack-presence")
    with chat_stack(workdir, workers=2, DATABASE_URL="sqlite:///%s" % (workdir / "presence.sqlite3")) as running:
        running.second_daphne, running.second_port = start_daphne(running.group, running.env, name="daphne-2")
        running.presence = running.group.start(
            "runpresence", [sys.executable, "manage.py", "runpresence"], env=running.env, cwd=REPO_ROOT)
        running.presence.wait_for_log("Pushing presence", 60)
        yield running


def next_presence(sock, timeout):
    sock.skip = ()
    deadline = time.monotonic() + timeout
    while True:
        frame = sock.recv_json(timeout=max(0.1, deadline - time.monotonic()))
        if frame["type"] == "presence":
            return frame


def presence_becomes(sock, users, anonymous, timeout=WITHIN):
    deadline = time.monotonic() + timeout
    while True:
        frame = next_presence(sock, deadline - time.monotonic())
        if (frame["users"], frame["anonymous"]) == (users, anonymous):
            return frame


def test_connects_and_disconnects_are_pushed_within_two_seconds(stack, new_room, join):
    label = new_room("presence")
    first = join(label)
    assert next_presence(first, WITHIN) == {"type": "presence", "room": label, "users": [], "anonymous": 1}

    browser, name = signed_up(stack)
    tabs = [Socket(browser.socket(label), label) for _ in range(2)]
    presence_becomes(first, [name], 1)
    for tab in tabs:  # the second tab changed nothing, and still hears it
        presence_becomes(tab, [name], 1)

    tabs[0].close()  # the user is still there, in the other tab
    tabs[1].close()
    presence_becomes(first, [], 1)
    second = join(label)
    presence_becomes(first, [], 2)
    second.close()
    presence_becomes(first, [], 1)


def test_a_killed_daphnes_sockets_leave_within_a_minute(stack, new_room, join):
    label = new_room("presence-killed")
    local = join(label)
    url = "ws://127.0.0.1:%d%s" % (stack.second_port, chat_path(label))
    remote = [Socket(websocket.create_connection(url, timeout=10), url) for _ in range(2)]
    presence_becomes(local, [], 3)
    stack.second_daphne.kill()
    started = time.monotonic()
    presence_becomes(local, [], 1, timeout=KILLED_WITHIN)
    print("presence after the kill: %.1f s" % (time.monotonic() - started))
    for sock in remote:
        sock.close()


def test_runpresence_outlives_a_redis_restart_and_stops_on_sigterm(stack, new_room, join):
    pid = stack.presence.pid
    stack.redis.stop()
    time.sleep(3)
    assert stack.presence.alive()
    stack.redis, _ = start_redis(stack.group, port=stack.redis_port)
    time.sleep(3)  # Daphne closes the sockets it held; the pages would reconnect
    label = new_room("presence-after")
    sock = join(label)
    presence_becomes(sock, [], 1, timeout=10)
    assert stack.presence.pid == pid

    started = time.monotonic()
    os.kill(stack.presence.pid, signal.SIGTERM)
    stack.presence.popen.wait(10)
    assert time.monotonic() - started < 3
    assert stack.presence.returncode == 0
    assert "Stopped" in stack.presence.log_text()
