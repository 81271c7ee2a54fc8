"""
Redis frozen for 10 s: SIGSTOP on the stack's redis-server (by pid), then
SIGCONT, always (a `finally`, and a watchdog process should this one die
in between). Destructive, so it has a stack of its own.

The project's claim: a frozen Redis stalls everything while it lasts and
recovers after (docs/architecture.md: a Redis that only froze, same
run_id, closes nothing). Not a restart: Redis keeps its data, its Groups
and its run_id. So within RECOVERY_SECONDS of SIGCONT:

- Daphne and both workers are alive with the pids they had (nothing
  restarted, nothing died), and so is redis-server;
- the frame a socket sent during the freeze is delivered to both sockets
  of the room, or, if its socket was closed, resending the same client_id
  on a new socket saves it, once;
- a handshake begun during the freeze ends (accepted or refused), and an
  HTTP request sent during the freeze is answered 200;
- chat works on the old sockets (those still open) and on new ones, and
  the page answers 200.

A process that dies, or anything that stays stuck after the freeze, fails
the test within the bound instead of hanging it.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import websocket

from tests.support.chat_stack import chat_stack

from .conftest import Socket, assert_message_frame, chat_path, http_request

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]

FREEZE_SECONDS = 10
RECOVERY_SECONDS = 30
WATCHDOG_GRACE = 20   # the watchdog thaws Redis this long after the freeze should have ended


@pytest.fixture(scope="module")
def stack(tmp_path_factory, module_database):
    """A private stack: this module freezes its Redis."""
    with chat_stack(tmp_path_factory.mktemp("chat-stack-freeze"), workers=2,
                    DATABASE_URL=module_database("chat_freeze")) as running:
        yield running


def process_state(pid):
    """The one-letter state of /proc/<pid>/stat ("T" when stopped), or None."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


_WATCHDOG = """
import os, signal, sys, time
pid, seconds = int(sys.argv[1]), float(sys.argv[2])
time.sleep(seconds)
try:
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        if b"redis-server" in handle.read():
            os.kill(pid, signal.SIGCONT)
except OSError:
    pass
"""


@contextlib.contextmanager
def frozen(process, seconds):
    """SIGSTOP `process` (by pid) for the block; SIGCONT it on the way out,
    whatever happens. A watchdog (a process of its own, stopped here by its
    pid) sends SIGCONT too, should the test process die during the freeze."""
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(process.pid), str(seconds + WATCHDOG_GRACE)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        os.kill(process.pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 5
            while process_state(process.pid) != "T":
                assert time.monotonic() < deadline, "%r did not stop (state %s)" % (
                    process, process_state(process.pid))
                time.sleep(0.01)
            yield
        finally:
            os.kill(process.pid, signal.SIGCONT)
    finally:
        watchdog.kill()
        watchdog.wait()
    assert process_state(process.pid) not in ("T", None), "%r did not resume" % (process,)


def read_until(sock, wanted, deadline, seen):
    """Read `sock` until a frame for which wanted(frame) is true arrives:
    ("frame", frame), or ("closed", detail), or ("timeout", None). Every
    frame read is appended to `seen`."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout", None
        sock.ws.settimeout(min(remaining, 1.0))
        try:
            frame = _recv(sock)
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketException, OSError) as error:
            return "closed", repr(error)
        if frame is None:
            return "closed", "close frame"
        seen.append(frame)
        if wanted(frame):
            return "frame", frame


def _recv(sock):
    """One frame, decoded; None for a close frame. Raises on timeout or a lost connection."""
    opcode, data = sock.ws.recv_data()
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        return None
    return json.loads(data.decode("utf-8"))


def chat_round(sender, listeners, label, handle, text, client_id=None):
    """`sender` says `text`; it and every listener receive the same message frame."""
    data = {"handle": handle, "message": text}
    if client_id:
        data["client_id"] = client_id
    sender.send_json(data)
    frame = assert_message_frame(sender.recv_json(), label, handle, text, client_id=client_id)
    for listener in listeners:
        assert listener.recv_json() == frame, listener
    return frame


def test_a_frozen_redis_stalls_everything_and_everything_recovers(stack, new_room, join, http_get, db):
    label = new_room("freeze")
    alice, bob = join(label), join(label)
    before = chat_round(alice, [bob], label, "alice", "before the freeze")
    chat_round(bob, [alice], label, "bob", "me too")

    services = [stack.daphne] + list(stack.workers)
    pids = {process.name: process.pid for process in services + [stack.redis]}
    frozen_frame = {"handle": "alice", "message": "sent while Redis was frozen", "client_id": "frozen-1"}
    http_during = {}
    handshake_during = {}

    def http_while_frozen():
        try:
            http_during["response"] = http_request(stack.url("/"), timeout=FREEZE_SECONDS + RECOVERY_SECONDS)
        except Exception as error:  # reported below
            http_during["error"] = error

    def handshake_while_frozen():
        url = stack.ws_url(chat_path(label))
        try:
            handshake_during["socket"] = Socket(
                websocket.create_connection(url, timeout=FREEZE_SECONDS + RECOVERY_SECONDS), url)
        except Exception as error:  # reported below
            handshake_during["error"] = error

    threads = [threading.Thread(target=http_while_frozen, daemon=True),
               threading.Thread(target=handshake_while_frozen, daemon=True)]
    early = {"alice": [], "bob": []}
    with frozen(stack.redis, FREEZE_SECONDS):
        frozen_at = time.monotonic()
        alice.send_json(frozen_frame)
        for thread in threads:
            thread.start()
        # While it lasts: everything waits (nothing can get through Redis),
        # and every process stays alive.
        while time.monotonic() - frozen_at < FREEZE_SECONDS:
            dead = [process for process in services if not process.alive()]
            assert not dead, "died during the freeze: %r\n%s" % (dead, stack.logs())
            for name, sock in (("alice", alice), ("bob", bob)):
                read_until(sock, lambda frame: False, time.monotonic() + 0.25, early[name])
        assert not early["alice"] and not early["bob"], "frames got through a frozen Redis: %r" % early
    thawed_at = time.monotonic()
    deadline = thawed_at + RECOVERY_SECONDS

    # The frame sent during the freeze: delivered to both sockets...
    is_frozen_frame = lambda frame: frame.get("client_id") == "frozen-1"  # noqa: E731
    seen = {"alice": [], "bob": []}
    outcome, echo = read_until(alice, is_frozen_frame, deadline, seen["alice"])
    assert outcome != "timeout", (
        "%ss after SIGCONT the frame sent during the freeze got no answer and its socket is still open: stuck "
        "for good (frames seen: %r)\n%s" % (RECOVERY_SECONDS, seen["alice"], stack.logs()))
    if outcome == "frame":
        path = "delivered"
        assert_message_frame(echo, label, "alice", frozen_frame["message"], client_id="frozen-1")
        assert echo["previous_id"] is not None and echo["id"] > before["id"], echo
        bob_outcome, bob_copy = read_until(bob, is_frozen_frame, deadline, seen["bob"])
        if bob_outcome == "closed":
            # Bob's socket closed: his page reconnects and catches up.
            bob = join(label, after=before["id"])
            bob_outcome, bob_copy = read_until(bob, is_frozen_frame, deadline, seen["bob"])
        assert bob_outcome == "frame", "bob never got the frame sent during the freeze (%s; seen %r)\n%s" % (
            bob_outcome, seen["bob"], stack.logs())
        assert bob_copy == echo
    else:
        # ...or its socket was closed: the page reconnects, catches up and
        # resends with the same client_id, which saves it once.
        path = "resent after a close (%s)" % echo
        alice = join(label, after=before["id"])
        alice.send_json(frozen_frame)
        outcome, echo = read_until(alice, is_frozen_frame, deadline, seen["alice"])
        assert outcome == "frame", "the resent frame got no echo (%s; seen %r)\n%s" % (
            outcome, seen["alice"], stack.logs())
        assert_message_frame(echo, label, "alice", frozen_frame["message"], client_id="frozen-1")
        bob_outcome, bob_copy = read_until(bob, is_frozen_frame, deadline, seen["bob"])
        if bob_outcome != "frame":
            bob = join(label, after=before["id"])
            bob_outcome, bob_copy = read_until(bob, is_frozen_frame, deadline, seen["bob"])
        assert bob_outcome == "frame" and bob_copy["id"] == echo["id"], (bob_outcome, bob_copy, echo)
    recovered_after = time.monotonic() - thawed_at
    saved = db.query("SELECT m.id, m.message FROM chat_message m JOIN chat_room r ON r.id = m.room_id "
                     "WHERE r.label = ? AND m.client_id = ?", (label, "frozen-1"))
    assert saved == [{"id": echo["id"], "message": frozen_frame["message"]}], saved

    # The HTTP request and the handshake begun during the freeze have ended.
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        assert not thread.is_alive(), "a request begun during the freeze is still waiting %ss after SIGCONT" % (
            RECOVERY_SECONDS,)
    assert "response" in http_during, http_during
    assert http_during["response"].status == 200, http_during["response"]
    carol = handshake_during.get("socket")
    if carol is None:
        # Refused or timed out while everything stalled: a page would
        # reconnect, so one more try must work now.
        carol = join(label)
    else:
        # Accepted after the thaw: depending on whether its connect ran
        # before the frame sent during the freeze was saved, it got that
        # frame's broadcast too (once), or not.
        extra = []
        read_until(carol, lambda frame: False, time.monotonic() + 1.0, extra)
        assert extra in ([], [echo]), extra
    try:
        # Every process alive, none restarted: same pids, Redis included.
        assert all(process.alive() for process in services + [stack.redis]), stack.logs()
        assert {process.name: process.pid for process in services + [stack.redis]} == pids

        # Chat on the old sockets and on new ones.
        dave = join(label)
        sockets = [alice, bob, carol, dave]
        for number, sender in enumerate(sockets):
            chat_round(sender, [sock for sock in sockets if sock is not sender], label,
                       "user%d" % number, "after the freeze %d" % number, client_id="after-%d" % number)
        assert http_get("/").status == 200
        assert http_get("/%s/" % label).status == 200
        messages = [row["message"] for row in db.messages(label)]
        assert messages == ["before the freeze", "me too", frozen_frame["message"]] + [
            "after the freeze %d" % n for n in range(4)], messages
        assert all(process.alive() for process in services + [stack.redis]), stack.logs()
    finally:
        if handshake_during.get("socket") is not None:
            handshake_during["socket"].close()
    print("Redis frozen %ss: the frame sent during the freeze was %s, %.1f s after SIGCONT; "
          "the handshake begun during the freeze %s" % (
              FREEZE_SECONDS, path, recovered_after,
              "was accepted" if handshake_during.get("socket") is not None else
              "failed (%r)" % handshake_during.get("error")))
