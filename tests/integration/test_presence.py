"""
Presence pushed by `manage.py runpresence` over real sockets: who is in a
room (signed-in users once, anonymous sockets counted) within 2 s of a
connect or a disconnect; the process outlives a Redis restart and stops
promptly on SIGTERM. Within 60 s of a Daphne killed outright: with the
rest of what its sockets held, in test_group_pruning.py.
"""
import os
import signal
import time

import pytest

from tests.support.processes import chat_stack, start_redis

from .conftest import Socket
from .actors import signed_up

pytestmark = pytest.mark.integration

WITHIN = 2 + 1  # the promise, and a second for a loaded machine


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chat-stack-presence")
    with chat_stack(workdir, workers=2, DATABASE_URL="sqlite:///%s" % (workdir / "presence.sqlite3")) as running:
        running.start_presence()
        yield running


def test_connects_and_disconnects_are_pushed_within_two_seconds(stack, new_room, join):
    label = new_room("presence")
    first = join(label)
    assert first.next_presence(WITHIN) == {"type": "presence", "room": label, "users": [], "guests": [],
                                           "anonymous": 1}

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
    ada.say_all("Ada", ["hello"])
    deadline = time.monotonic() + WITHIN
    while True:
        frame = watcher.next_presence(max(0.1, deadline - time.monotonic()))
        if frame["guests"] == ["Ada"]:
            break
    assert frame == {"type": "presence", "room": label, "users": [], "guests": ["Ada"], "anonymous": 2}


def test_runpresence_outlives_a_redis_restart_and_stops_on_sigterm(stack, new_room, join):
    pid = stack.presence.pid
    stack.redis.stop()
    time.sleep(3)
    assert stack.presence.alive()
    stack.redis, _ = start_redis(stack.group, port=stack.redis_port)
    time.sleep(3)  # Daphne closes the sockets it held; the pages would reconnect
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
