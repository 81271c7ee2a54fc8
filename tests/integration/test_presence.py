"""
Presence pushed by `manage.py runpresence` over real sockets: who is in a
room (signed-in users once, anonymous sockets counted) within 2 s of a
connect or a disconnect; the process outlives a Redis restart and stops
promptly on SIGTERM. Within 60 s of a Daphne killed outright: with the
rest of what its sockets held, in test_group_pruning.py.
"""
import http.client
import os
import signal
import time

import pytest

from tests.support.chat_stack import chat_stack
from tests.support.processes import http_status
from tests.support.redis_server import start_redis

from .conftest import Socket, wait_for
from .actors import signed_up

pytestmark = pytest.mark.integration

WITHIN = 2 + 1  # the promise, and a second for a loaded machine


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chat-stack-presence")
    with chat_stack(workdir, workers=2, DATABASE_URL="sqlite:///%s" % (workdir / "presence.sqlite3")) as running:
        running.start_presence()
        yield running


@pytest.fixture(autouse=True)
def running(stack):
    """Redis and runpresence up, whatever the test before did (one stops both)."""
    if not stack.redis.alive():
        stack.redis, _ = start_redis(stack.group, port=stack.redis_port)
    if not stack.presence.alive():
        stack.start_presence()


def test_connects_and_disconnects_are_pushed_within_two_seconds(stack, new_room, join):
    label = new_room("presence")
    first = join(label)
    assert first.next_presence(WITHIN) == {"type": "presence", "room": label, "users": [], "guests": [],
                                           "anonymous": 1, "head": None}

    browser, name = signed_up(stack)
    tabs = [Socket(browser.socket(label), label) for _ in range(2)]
    first.presence_becomes([name], 1, WITHIN)
    for tab in tabs:  # the second tab changed nothing, and still hears it
        tab.presence_becomes([name], 1, WITHIN)

    tabs[0].close()  # the user is still there, in the other tab
    tabs[1].close()
    first.presence_becomes([], 1, WITHIN)
    second = join(label)
    first.presence_becomes([], 2, WITHIN)
    second.close()
    first.presence_becomes([], 1, WITHIN)


def test_a_guest_who_wrote_is_listed_by_the_name_given(stack, new_room, join):
    label = new_room("presence-named")
    ada, watcher = join(label), join(label)
    watcher.presence_becomes([], 2, WITHIN)
    [hello] = ada.say_all("Ada", ["hello"])
    deadline = time.monotonic() + WITHIN
    while True:
        frame = watcher.next_presence(max(0.1, deadline - time.monotonic()))
        if frame["guests"] == ["Ada"]:
            break
    assert frame == {"type": "presence", "room": label, "users": [], "guests": ["Ada"], "anonymous": 2,
                     "head": hello["id"]}


def test_runpresence_outlives_a_redis_restart_and_stops_on_sigterm(stack, new_room, join, db):
    pid = stack.presence.pid
    label = new_room("presence-outage")
    join(label).presence_becomes([], 1, WITHIN)
    unreachable = stack.presence.log_text().count("Channel layer unreachable")
    stack.redis.stop()
    # A message saved meanwhile is a new head for runpresence to push: it
    # meets the lost layer, logs it, and looks again a second later.
    db.seed_messages(label, ["while Redis is down"])
    wait_for(lambda: stack.presence.log_text().count("Channel layer unreachable") >= unreachable + 2,
             timeout=15, what="runpresence to try Redis again")
    assert stack.presence.alive()
    stack.redis, _ = start_redis(stack.group, port=stack.redis_port)

    def healthy():
        try:
            return http_status("127.0.0.1", stack.http_port, "/healthz") == 200
        except (OSError, http.client.HTTPException):
            return False
    wait_for(healthy, timeout=30, what="Daphne and the workers to serve through the new Redis")
    label = new_room("presence-after")
    sock = join(label)
    sock.presence_becomes([], 1, timeout=10)
    assert stack.presence.pid == pid

    started = time.monotonic()
    os.kill(stack.presence.pid, signal.SIGTERM)
    stack.presence.popen.wait(10)
    assert time.monotonic() - started < 3
    assert stack.presence.returncode == 0
    assert "Stopped" in stack.presence.log_text()
