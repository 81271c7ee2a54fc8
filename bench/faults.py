"""
What each fault costs the users of a room: lost, duplicated and late
messages, sockets closed under them, and how long until everyone chats
again. The numbers behind docs/reliability.md.

    .venv/bin/python bench/faults.py --database postgresql --repeat 3 --output bench/results/faults.txt
    .venv/bin/python bench/faults.py                                  # SQLite: no postgres-restart
    .venv/bin/python bench/faults.py --scenarios worker-kill --repeat 1 --output ''   # one scenario

What it starts (and stops by pid, in finally blocks, also on an error,
Ctrl-C or SIGTERM): for every scenario a stack of its own,
the harness's ProjectStack (bench/harness/stacks.py) with the shipped
budgets (a private redis-server on a free port, never 6379;
deploy/daphne.sh, trusting X-Forwarded-For; two deploy/worker.sh -v 2,
without runpresence), whose kill and restart by role the faults use; with
`--database postgresql` one private PostgreSQL (tests/support/postgres.py,
never 5432) with a database per scenario, else SQLite in the temporary
directory.

The load (class Chatter, one thread each): --clients protocol-following
clients in one room (a new room per repeat), each from its own
X-Forwarded-For address, each typing a message every --interval seconds
(+-20%) with a client_id never used before. Each does what
docs/protocol.md ("What a client must do") asks, as chat/static/chat/chat.js
does:
  - keeps messages by id and tracks `complete` along previous_id; a hole
    that stays open --gap-patience seconds is filled from
    /api/rooms/<label>/messages/?after=<complete>&limit=500;
  - keeps every message until its echo; when one gets no echo within
    --echo-timeout seconds it closes its socket (the server handles one
    socket's frames in order: later ones would wait for the lost one),
    reconnects and resends every unanswered message with the same client_id;
  - on a socket closed for any reason, reconnects with back-off (0.5 s
    doubling to 8 s, plus up to half of it as jitter; reset once a socket
    stayed open 5 s) to /chat/<label>/?after=<complete>, and resends;
  - rate_limited: resends that message after retry_after; internal_error
    saved=false: the echo timeout resends it; saved=true: fills holes;
    catchup_truncated: fills holes;
  - a person waits when 5 of their messages are unanswered: no new message
    until fewer are (so an outage does not pile up a burst over the budget).

Each scenario runs --repeat times: warm-up (every client has an echo, then
--warmup seconds), the fault, then chat goes on until every client has
recovered and at least --after seconds have passed (at most --max-after),
then typing stops and the clients get --drain seconds to deliver what is
still unanswered, and a short settle. Then the room's rows are read from
the database and compared with what the clients sent, saw and hold.

Scenarios (the fault, and what "the fault ended" means for the recovery time):
  flood             one more client (a child process, address 10.66.6.6)
                    sends as fast as it can for --flood-seconds and
                    reconnects at once whenever closed; ends when it stops
  worker-kill       SIGKILL one of the 2 runworkers by pid mid-chat; a
                    replacement is started 2 s later; ends when it is ready
  redis-restart     stop redis-server by pid, start a new empty one on the
                    same port 3 s later; ends when it answers PING
  redis-freeze      SIGSTOP redis-server for 10 s, then SIGCONT (always, in
                    a finally); ends at SIGCONT
  postgres-restart  (--database postgresql only) PostgreSQL fast shutdown
                    by pid, started again 3 s later; ends when it accepts
  daphne-kill       SIGKILL Daphne by pid, start it again on the same port
                    2 s later; ends when it serves GET / through a worker

The report: a table (one row per scenario and repeat), what the clients did
per repeat, "Findings" (costs beyond the fault: sockets closed or refused
after the service was restored; frames whose answer chat.js would not
resend) and "Defects" (an acked message lost, a sent one never saved, a
client_id saved twice, a message held twice, a chatter closed by a flood,
a client that never recovered), with the command that reproduces one. A
run with defects keeps its temporary directory, as --keep does: the process
logs, and per repeat trace-<scenario>-<rep>.txt, every chatter's socket
events and slow echoes in seconds from the fault. Exit status 1 on defects.
"""
import argparse
import collections
import datetime
import json
import os
import platform
import random
import select
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import websocket  # noqa: E402  (websocket-client, from requirements-dev.txt)

from bench.harness.measure import cpu_seconds  # noqa: E402
from bench.harness.provenance import code_fingerprint, program_version  # noqa: E402
from bench.results_file import write_report  # noqa: E402

DEFAULT_OUTPUT = os.path.join(HERE, "results", "faults.txt")
FLOOD_ADDRESS = "10.66.6.6"
FLOOD_HANDLE = "flood"
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 8.0
STABLE_AFTER = 5.0       # a socket open this long resets the back-off (chat.js)
PENDING_CAP = 5          # a person waits when this many messages are unanswered
API_PAGE = 500
HTTP_TIMEOUT = 5.0
SETTLE = 3.0             # after the drain: late broadcasts and hole fills
BETWEEN_REPEATS = 3.0

mono = time.monotonic


# ---------------------------------------------------------------------------
# The flooder: a child process (its busy loop would starve the chatters'
# threads of the GIL), started in the stack's process group, stopped by pid.
# ---------------------------------------------------------------------------

def run_flooder(url, address, seconds):
    """Send as fast as possible; when closed, reconnect at once. Prints its counts as JSON."""
    stats = collections.Counter()
    frame = json.dumps({"handle": FLOOD_HANDLE, "message": "spam"})
    deadline = mono() + seconds
    while mono() < deadline:
        try:
            ws = websocket.create_connection(url, timeout=5, header=["X-Forwarded-For: %s" % address])
        except Exception:
            stats["refused"] += 1
            time.sleep(0.01)
            continue
        stats["opened"] += 1
        try:
            while mono() < deadline:
                ws.send(frame)
                stats["frames"] += 1
        except Exception:
            stats["closed"] += 1
        finally:
            try:
                ws.shutdown()
            except Exception:
                pass
    stats["cpu"] = round(time.process_time(), 2)
    print(json.dumps(dict(stats)), flush=True)


# ---------------------------------------------------------------------------
# A protocol-following chat client
# ---------------------------------------------------------------------------

class Item(object):
    """One message a client typed."""
    __slots__ = ("client_id", "text", "created", "first_sent", "sent_at", "next_try",
                 "transmissions", "acked_at", "acked_via", "dropped")

    def __init__(self, client_id, text, created):
        self.client_id, self.text, self.created = client_id, text, created
        self.first_sent = self.sent_at = None
        self.next_try = 0.0
        self.transmissions = 0
        self.acked_at = self.acked_via = None
        self.dropped = None


class Room(object):
    """What the chatters of one repeat share."""

    def __init__(self, stack, label, cfg, tag):
        self.host, self.port = stack.host, stack.http_port
        self.label, self.cfg, self.tag = label, cfg, tag
        self.generate = threading.Event()
        self.stop = threading.Event()

    def ws_url(self, after):
        return "ws://%s:%d/chat/%s/?after=%d" % (self.host, self.port, urllib.parse.quote(self.label), after)

    def api_url(self, after):
        return "http://%s:%d/api/rooms/%s/messages/?after=%d&limit=%d" % (
            self.host, self.port, urllib.parse.quote(self.label), after, API_PAGE)


_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Chatter(threading.Thread):
    def __init__(self, room, index):
        super().__init__(daemon=True, name="chatter-%d" % index)
        self.room, self.cfg = room, room.cfg
        self.index = index
        self.handle = "chatter-%d" % index
        self.address = "10.0.0.%d" % (index + 1)
        self.rng = random.Random("%s-%d" % (room.tag, index))
        self.items = collections.OrderedDict()   # client_id -> Item, every message typed
        self.outbox = collections.OrderedDict()  # client_id -> Item, awaiting an answer
        self.seq = 0
        self.next_create = 0.0
        # What it holds of the room (docs/protocol.md, "What a client must do").
        self.complete = 0
        self.held = set()
        self.above = {}                          # id > complete -> previous_id
        self.gap_since = None
        self.ids_by_cid = collections.defaultdict(set)  # (handle, client_id) -> ids held
        # The socket.
        self.ws = None
        self.opened_at = None
        self.backoff = BACKOFF_FIRST
        self.next_connect = 0.0
        self.counters = collections.Counter()
        self.server_closes = []                  # (time, kind, within 1 s of opening): closes it did not ask for
        self.connect_failures = collections.Counter()
        self.connect_failure_times = []          # (time, reason)
        self.events = []                         # (time, what), for --trace
        self.crash = None

    def event(self, text):
        self.events.append((mono(), text))

    # -- the loop ----------------------------------------------------------

    def run(self):
        try:
            while not self.room.stop.is_set():
                now = mono()
                if self.ws is None and now >= self.next_connect:
                    self._connect()
                if self.ws is not None:
                    self._read(0.05)
                else:
                    time.sleep(min(0.05, max(0.0, self.next_connect - mono())))
                now = mono()
                self._maybe_type(now)
                if self.ws is not None:
                    if self.opened_at is not None and now - self.opened_at >= STABLE_AFTER:
                        self.backoff = BACKOFF_FIRST
                    self._transmit_due(now)
                if self.ws is not None:
                    self._check_overdue(now)
                self._check_gap(now)
        except Exception:
            self.crash = traceback.format_exc()
        finally:
            if self.ws is not None:
                try:
                    self.ws.send_close()
                except Exception:
                    pass
                try:
                    self.ws.shutdown()
                except Exception:
                    pass
                self.ws = None

    # -- sockets -----------------------------------------------------------

    def _connect(self):
        try:
            ws = websocket.create_connection(
                self.room.ws_url(self.complete), timeout=10,
                header=["X-Forwarded-For: %s" % self.address])
        except Exception as error:
            if isinstance(error, websocket.WebSocketBadStatusException):
                reason = "HTTP %s" % getattr(error, "status_code", "?")
            elif isinstance(error, ConnectionRefusedError):
                reason = "refused"
            elif isinstance(error, (socket.timeout, websocket.WebSocketTimeoutException)):
                reason = "timeout"
            else:
                reason = type(error).__name__
            self.counters["connect failed"] += 1
            self.connect_failures[reason] += 1
            self.connect_failure_times.append((mono(), reason))
            self.event("connect failed: %s" % reason)
            self._socket_gone(mono())
            return
        self.ws = ws
        self.opened_at = mono()
        self.counters["connects"] += 1
        self.event("connected ?after=%d, %d to resend" % (self.complete, len(self.outbox)))
        for item in self.outbox.values():
            item.sent_at = None  # resend everything unanswered on the new socket

    def _socket_gone(self, now):
        self.ws = None
        self.opened_at = None
        for item in self.outbox.values():
            item.sent_at = None
        self.next_connect = now + self.backoff * (1 + self.rng.random() / 2)
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def _lost(self, kind):
        """The server closed the socket (a close frame, or the connection dropped)."""
        now = mono()
        quick = self.opened_at is not None and now - self.opened_at < 1.0
        self.server_closes.append((now, kind, quick))
        if quick:
            self.counters["closed within 1 s of opening"] += 1
        self.event("socket closed by the server: %s" % kind)
        try:
            self.ws.shutdown()
        except Exception:
            pass
        self._socket_gone(now)

    def _close_for_resend(self, now):
        self.counters["echo timeouts"] += 1
        self.event("no echo for %gs: closing to resend" % self.cfg.echo_timeout)
        try:
            self.ws.send_close()
        except Exception:
            pass
        try:
            self.ws.shutdown()
        except Exception:
            pass
        self._socket_gone(now)

    def _read(self, wait):
        ws = self.ws
        try:
            readable = select.select([ws.sock], [], [], wait)[0]
            while readable:
                ws.settimeout(5)
                opcode, data = ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                    self._lost("close %s" % code)
                    return
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self._on_frame(json.loads(data.decode("utf-8")))
                readable = select.select([ws.sock], [], [], 0)[0]
        except websocket.WebSocketTimeoutException:
            return
        except (websocket.WebSocketException, OSError, ValueError, TypeError):
            # ValueError/TypeError: select() on a socket already gone.
            if self.ws is ws:
                self._lost("drop")

    def _send(self, item, now):
        try:
            self.ws.send(json.dumps({"handle": self.handle, "message": item.text, "client_id": item.client_id}))
        except Exception:
            self._lost("drop")
            return False
        item.sent_at = now
        item.transmissions += 1
        if item.first_sent is None:
            item.first_sent = now
        else:
            self.counters["resends"] += 1
        return True

    # -- typing and sending ------------------------------------------------

    def _maybe_type(self, now):
        if not self.room.generate.is_set() or now < self.next_create:
            return
        self.next_create = now + self.cfg.interval * self.rng.uniform(0.8, 1.2)
        if len(self.outbox) >= PENDING_CAP:
            self.counters["waited to type"] += 1
            return
        self.seq += 1
        client_id = "%s-c%d-%d" % (self.room.tag, self.index, self.seq)
        item = Item(client_id, "%s says %d" % (self.handle, self.seq), now)
        self.items[client_id] = item
        self.outbox[client_id] = item

    def _transmit_due(self, now):
        for item in list(self.outbox.values()):
            if item.sent_at is None and item.next_try <= now:
                if not self._send(item, now):
                    return

    def _check_overdue(self, now):
        for item in self.outbox.values():
            if item.sent_at is not None and now - item.sent_at > self.cfg.echo_timeout:
                self._close_for_resend(now)
                return

    # -- receiving ---------------------------------------------------------

    def _on_frame(self, data):
        kind = data.get("type")
        if kind == "message":
            self._on_message(data, "ws")
        elif kind == "error":
            self._on_error(data)

    def _on_error(self, data):
        code = data.get("code")
        self.counters["error " + str(code)] += 1
        self.event("error frame %s%s" % (code, "" if data.get("client_id") is None else " for " + data["client_id"]))
        if code == "catchup_truncated":
            self._fetch()
            return
        item = self.outbox.get(data.get("client_id"))
        if item is None:
            return
        if code == "rate_limited":
            item.sent_at = None  # not in flight: resent after retry_after
            item.next_try = mono() + float(data.get("retry_after") or 1.0)
        elif code == "internal_error" and data.get("saved") is True:
            del self.outbox[item.client_id]
            self._fetch()  # saved, its broadcast failed: fetch it
        elif code == "internal_error":
            # saved=false: not saved, the echo timeout resends it. No "saved"
            # at all: the server lost the socket's state and closes it right
            # after; "reconnect, catch up, and resend what got no echo".
            if "saved" not in data:
                self.counters["state lost, kept to resend"] += 1
        else:
            del self.outbox[item.client_id]
            item.dropped = code

    def _on_message(self, data, via):
        now = mono()
        message_id = data["id"]
        if message_id in self.held:
            if via == "ws":
                self.counters["same id again"] += 1
        else:
            self.held.add(message_id)
        client_id = data.get("client_id")
        if client_id:
            self.ids_by_cid[(data.get("handle"), client_id)].add(message_id)
            if data.get("handle") == self.handle:
                item = self.items.get(client_id)
                if item is not None and item.acked_at is None:
                    item.acked_at, item.acked_via = now, via
                    self.outbox.pop(client_id, None)
        if message_id > self.complete:
            self.above[message_id] = data.get("previous_id")
        self._advance(now)

    def _advance(self, now):
        while self.above:
            lowest = min(self.above)
            previous = self.above[lowest]
            if previous is not None and previous > self.complete:
                break
            self.complete = lowest
            del self.above[lowest]
        if self.above:
            if self.gap_since is None:
                self.gap_since = now
        else:
            self.gap_since = None

    def _check_gap(self, now):
        if self.gap_since is not None and now - self.gap_since >= self.cfg.gap_patience:
            self._fetch()

    def _fetch(self):
        """Fill holes from the HTTP API, from `complete` on; authoritative."""
        self.counters["hole fills"] += 1
        self.event("filling holes after %d (%d held above)" % (self.complete, len(self.above)))
        while True:
            request = urllib.request.Request(self.room.api_url(self.complete),
                                             headers={"X-Forwarded-For": self.address})
            try:
                with _http.open(request, timeout=HTTP_TIMEOUT) as response:
                    page = json.loads(response.read().decode("utf-8"))["messages"]
            except Exception as error:
                self.counters["hole fill failed"] += 1
                self.event("hole fill failed: %r" % error)
                self.gap_since = mono()  # try again after the patience
                return
            for message in page:
                self._on_message(message, "http")
            if len(page) < API_PAGE:
                return

    # -- for the harness (read from the main thread) -----------------------

    def acks(self):
        for _ in range(5):
            try:
                items = list(self.items.values())
                break
            except RuntimeError:  # changed while copied (it is the chatter's thread's)
                time.sleep(0.01)
        else:
            items = []
        return [(item.created, item.acked_at) for item in items if item.acked_at is not None]

    def recovered_at(self, fault_end):
        """When it first saw the echo of a message typed after the fault ended."""
        times = [acked for created, acked in self.acks() if created >= fault_end]
        return min(times) if times else None


# ---------------------------------------------------------------------------
# The faults
# ---------------------------------------------------------------------------

def chat_path(label):
    return "/chat/%s/" % urllib.parse.quote(label)


def inject_flood(ctx, rep):
    from tests.support.processes import ProcessError
    url = ctx.stack.ws_url(chat_path(ctx.label))
    daphne_cpu = cpu_seconds(ctx.stack.daphne.pid, missing=None)
    start = mono()
    flooder = ctx.stack.group.start("flooder", [sys.executable, os.path.abspath(__file__), "--flooder", url,
                                                FLOOD_ADDRESS, "%g" % ctx.cfg.flood_seconds])
    try:
        flooder.popen.wait(ctx.cfg.flood_seconds + 30)
    except subprocess.TimeoutExpired:
        raise ProcessError("the flooder did not stop on its own\n" + flooder.describe())
    finally:
        end = mono()
        flooder.stop()
    try:
        stats = json.loads(flooder.log_text().strip().splitlines()[-1])
    except (IndexError, ValueError):
        stats = {}
    after = cpu_seconds(ctx.stack.daphne.pid, missing=None)
    if daphne_cpu is not None and after is not None:
        stats["daphne_cpu"] = after - daphne_cpu
    return start, end, {"flooder": stats}


def inject_worker_kill(ctx, rep):
    stack = ctx.stack
    alive = [worker for worker in stack.workers if worker.alive()]
    victim = alive[rep % len(alive)]
    dispatched = stack.dispatch_count(victim, "websocket.receive")
    start = mono()
    victim.kill()
    stack.workers.remove(victim)
    time.sleep(2)
    replacement = stack.start_worker()
    end = mono()
    return start, end, {"note": "SIGKILL pid %d (after %d websocket.receive), replacement pid %d"
                                % (victim.pid, dispatched, replacement.pid)}


def inject_redis_restart(ctx, rep):
    start = mono()
    ctx.stack.restart_redis(3)
    return start, mono(), {}


def inject_redis_freeze(ctx, rep):
    pid = ctx.stack.redis.pid
    start = mono()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(10)
    finally:
        os.kill(pid, signal.SIGCONT)
        end = mono()
    return start, end, {}


def inject_postgres_restart(ctx, rep):
    start = mono()
    ctx.postgres.stop()
    time.sleep(3)
    ctx.postgres.start()
    return start, mono(), {}


def inject_daphne_kill(ctx, rep):
    start = mono()
    daphne = ctx.stack.kill_and_restart_daphne(2)
    return start, mono(), {"note": "new Daphne pid %d" % daphne.pid}


Scenario = collections.namedtuple("Scenario", "key title needs_postgres inject closes_expected")

SCENARIOS = [
    Scenario("flood", "flood beside the chatters (shipped budgets)", False, inject_flood, False),
    Scenario("worker-kill", "SIGKILL 1 of 2 workers, replacement 2 s later", False, inject_worker_kill, False),
    Scenario("redis-restart", "Redis stopped, new empty one 3 s later", False, inject_redis_restart, True),
    Scenario("redis-freeze", "Redis SIGSTOP 10 s, SIGCONT", False, inject_redis_freeze, False),
    Scenario("postgres-restart", "PostgreSQL down ~3 s", True, inject_postgres_restart, True),
    Scenario("daphne-kill", "SIGKILL Daphne, restart on its port 2 s later", False, inject_daphne_kill, True),
]
SCENARIO_KEYS = [s.key for s in SCENARIOS]


# ---------------------------------------------------------------------------
# One repeat
# ---------------------------------------------------------------------------

class Context(object):
    def __init__(self, stack, postgres, cfg):
        self.stack, self.postgres, self.cfg = stack, postgres, cfg
        self.label = None


def room_rows(database_url, label):
    sql = ("SELECT m.id, m.handle, m.client_id FROM chat_message m JOIN chat_room r ON r.id = m.room_id "
           "WHERE r.label = %s ORDER BY m.id")
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url[len("sqlite:///"):], timeout=20)
        sql = sql.replace("%s", "?")
    else:
        import psycopg2
        connection = psycopg2.connect(database_url, connect_timeout=10)
    try:
        cursor = connection.cursor()
        cursor.execute(sql, (label,))
        return cursor.fetchall()
    finally:
        connection.close()


def get_status(url, timeout=HTTP_TIMEOUT):
    try:
        with _http.open(urllib.request.Request(url), timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except Exception:
        return None


def wait_for(check, timeout, what):
    deadline = mono() + timeout
    while not check():
        if mono() > deadline:
            raise RuntimeError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.1)


def run_repeat(ctx, scenario, rep):
    cfg, stack = ctx.cfg, ctx.stack
    tag = "%s%d%s" % (scenario.key[:2], rep, uuid.uuid4().hex[:4])
    ctx.label = "faults-%s-%d-%s" % (scenario.key, rep, uuid.uuid4().hex[:8])
    wait_for(lambda: get_status(stack.url("/%s/" % ctx.label)) == 200, 60, "the room page")
    room = Room(stack, ctx.label, cfg, tag)
    chatters = [Chatter(room, index) for index in range(cfg.clients)]
    room.generate.set()
    for chatter in chatters:
        chatter.start()
    result = {"scenario": scenario.key, "rep": rep}
    try:
        wait_for(lambda: all(c.acks() for c in chatters) or any(c.crash for c in chatters), 60,
                 "a first echo for every chatter")
        time.sleep(cfg.warmup)
        fault_start, fault_end, extra = scenario.inject(ctx, rep)
        result.update(extra)
        deadline = fault_end + cfg.max_after
        while mono() < deadline:
            if (mono() >= fault_end + cfg.after
                    and all(c.recovered_at(fault_end) is not None for c in chatters)):
                break
            time.sleep(0.2)
        room.generate.clear()
        stopped_typing = mono()
        drain_end = stopped_typing + cfg.drain
        while mono() < drain_end and any(c.outbox for c in chatters):
            time.sleep(0.2)
        time.sleep(SETTLE)
    finally:
        room.generate.clear()
        room.stop.set()
        for chatter in chatters:
            chatter.join(30)
    crashed = [c.crash for c in chatters if c.crash]
    if crashed:
        raise RuntimeError("a chatter thread failed:\n" + crashed[0])
    rows = room_rows(stack.env["DATABASE_URL"], ctx.label)
    result.update(measure(chatters, rows, fault_start, fault_end))
    write_trace(os.path.join(stack.workdir, "trace-%s-%d.txt" % (scenario.key, rep)),
                chatters, fault_start, fault_end, stopped_typing, ctx.label)
    return result


def write_trace(path, chatters, fault_start, fault_end, stopped_typing, label):
    """Every chatter's socket events, in seconds from the fault, next to the process logs."""
    lines = [(fault_start, "-", "fault starts"), (fault_end, "-", "fault over (service restored)"),
             (stopped_typing, "-", "typing stops")]
    for chatter in chatters:
        lines.extend((when, chatter.handle, what) for when, what in chatter.events)
        recovered = chatter.recovered_at(fault_end)
        if recovered is not None:
            lines.append((recovered, chatter.handle, "first echo of a message typed after the fault"))
        for item in list(chatter.items.values()):
            if item.acked_at is not None and item.acked_at - item.created > 1.0:
                lines.append((item.acked_at, chatter.handle, "echo of %s (%s) after %.1f s" % (
                    item.client_id, item.acked_via, item.acked_at - item.created)))
    with open(path, "w") as handle:
        handle.write("room %s; seconds from the fault\n" % label)
        for when, who, what in sorted(lines, key=lambda line: line[0]):
            handle.write("%8.2f  %-10s %s\n" % (when - fault_start, who, what))


def measure(chatters, rows, fault_start, fault_end):
    saved = collections.defaultdict(list)  # (handle, client_id) -> ids
    for message_id, handle, client_id in rows:
        if client_id is not None:
            saved[(handle, client_id)].append(message_id)
    all_ids = {row[0] for row in rows}
    sent = acked = acked_http = persisted = lost_acked = lost_sent = unacked = 0
    waits, recoveries = [], []
    counters = collections.Counter()
    closes = collections.Counter()
    connect_failures = collections.Counter()
    shown_twice = unseen = closed_after = closed_after_quick = refused_after = 0
    for chatter in chatters:
        for item in chatter.items.values():
            if not item.transmissions:
                continue
            key = (chatter.handle, item.client_id)
            sent += 1
            persisted += key in saved
            lost_sent += key not in saved
            if item.acked_at is not None:
                acked += 1
                acked_http += item.acked_via == "http"
                lost_acked += key not in saved
                waits.append(item.acked_at - item.created)
            else:
                unacked += 1
        recovered = chatter.recovered_at(fault_end)
        recoveries.append(None if recovered is None else recovered - fault_end)
        counters.update(chatter.counters)
        connect_failures.update(chatter.connect_failures)
        refused_after += sum(1 for when, reason in chatter.connect_failure_times
                             if when > fault_end and reason.startswith("HTTP"))
        for when, kind, quick in chatter.server_closes:
            closes[kind] += 1
            closed_after += when > fault_end
            closed_after_quick += when > fault_end and quick
        shown_twice += sum(1 for ids in chatter.ids_by_cid.values() if len(ids) > 1)
        unseen += len(all_ids - chatter.held)
    own_keys = {(c.handle, item.client_id) for c in chatters for item in c.items.values()}
    duplicated = sum(1 for key, ids in saved.items() if len(ids) > 1)
    return {
        "sent": sent, "acked": acked, "acked_http": acked_http, "persisted": persisted,
        "lost_acked": lost_acked, "lost_sent": lost_sent, "unacked": unacked,
        "dup_saved": duplicated, "shown_twice": shown_twice,
        "closed": sum(closes.values()), "close_kinds": dict(closes), "closed_after": closed_after,
        "closed_after_quick": closed_after_quick,
        "connect_failures": dict(connect_failures), "refused_after": refused_after,
        "recovery": None if None in recoveries else max(recoveries),
        "not_recovered": sum(1 for r in recoveries if r is None),
        "worst_wait": max(waits) if waits else None,
        "median_wait": statistics.median(waits) if waits else None,
        "fault_seconds": fault_end - fault_start,
        "counters": dict(counters),
        "unseen": unseen,
        "flood_saved": sum(1 for row in rows if row[1] == FLOOD_HANDLE),
        "foreign_rows": sum(1 for row in rows if row[1] != FLOOD_HANDLE and (row[1], row[2]) not in own_keys),
    }


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def fmt_seconds(value):
    return "-" if value is None else "%.1f" % value


def defects_of(result, scenario):
    """Plain statements of what a protocol-following client should never see."""
    found = []
    if "error" in result:
        return ["the run failed: %s" % result["error"].strip().splitlines()[-1]]
    if result["lost_acked"]:
        found.append("%d acknowledged message(s) not in the database" % result["lost_acked"])
    if result["lost_sent"]:
        found.append("%d sent message(s) never saved (still unanswered after the drain)" % result["lost_sent"])
    if result["dup_saved"]:
        found.append("%d client_id(s) saved more than once" % result["dup_saved"])
    if result["shown_twice"]:
        found.append("%d message(s) held under two ids by one client" % result["shown_twice"])
    if result["closed"] and not scenario.closes_expected:
        found.append("%d chatter socket(s) closed by the server (%s)" % (
            result["closed"], ", ".join("%s x%d" % kv for kv in sorted(result["close_kinds"].items()))))
    if result["not_recovered"]:
        found.append("%d client(s) without a fresh echo %.0f s after the fault ended"
                     % (result["not_recovered"], result["max_after"]))
    if result["unseen"]:
        found.append("%d (client, message) pair(s) of saved messages a client never got" % result["unseen"])
    if result["foreign_rows"]:
        found.append("%d row(s) in the room that no client sent" % result["foreign_rows"])
    return found


def findings_of(result):
    found = []
    if result.get("closed_after") or result.get("refused_after"):
        found.append("after the service was restored the server still closed %d chatter socket(s) (%d of "
                     "them within 1 s of opening) and refused %d handshake(s) with an HTTP error: each costs "
                     "that client one more back-off round" % (
                         result.get("closed_after", 0), result.get("closed_after_quick", 0),
                         result.get("refused_after", 0)))
    lost_state = result["counters"].get("state lost, kept to resend", 0)
    if lost_state:
        found.append("%d chat frame(s) answered internal_error without \"saved\" (the server lost the "
                     "socket's state and closed it); these clients resent them as docs/protocol.md says, "
                     "but chat/static/chat/chat.js's handleError drops a message answered so (it keeps "
                     "only saved=false ones): a page would have lost them" % lost_state)
    return found


def details_of(result):
    c = result.get("counters", {})
    parts = []
    for key, label in (("resends", "resends"), ("echo timeouts", "echo timeouts"),
                       ("error rate_limited", "rate_limited"),
                       ("error internal_error", "internal_error"), ("hole fills", "hole fills"),
                       ("hole fill failed", "failed fills"), ("error catchup_truncated", "catchup_truncated"),
                       ("state lost, kept to resend", "internal_error without saved, kept and resent"),
                       ("same id again", "same id twice (deduped)"), ("waited to type", "waited to type")):
        if c.get(key):
            parts.append("%s %d" % (label, c[key]))
    if result.get("connect_failures"):
        parts.append("failed connects: " + ", ".join(
            "%s x%d" % kv for kv in sorted(result["connect_failures"].items())))
    if result.get("acked_http"):
        parts.append("acked via HTTP fill %d" % result["acked_http"])
    if result.get("close_kinds"):
        parts.append("server closes: " + ", ".join("%s x%d" % kv for kv in sorted(result["close_kinds"].items()))
                     + " (%d of them after the fault was over)" % result["closed_after"])
    if c.get("closed within 1 s of opening"):
        parts.append("%d closed within 1 s of opening" % c["closed within 1 s of opening"])
    if result.get("flooder"):
        f = result["flooder"]
        parts.append("flooder: %d frames, %d sockets opened, %d closed, %d refused; %d flood rows saved; "
                     "CPU during the flood: flooder %.1f s, Daphne %.1f s" % (
                         f.get("frames", 0), f.get("opened", 0), f.get("closed", 0), f.get("refused", 0),
                         result.get("flood_saved", 0), f.get("cpu", float("nan")),
                         f.get("daphne_cpu", float("nan"))))
    if result.get("note"):
        parts.append(result["note"])
    return "; ".join(parts) or "-"


COLUMNS = [("scenario", 16, "s"), ("rep", 3, "d"), ("fault s", 7, "f"), ("sent", 5, "d"),
           ("acked", 5, "d"), ("saved", 5, "d"), ("lost acked", 10, "d"), ("lost sent", 9, "d"),
           ("dup saved", 9, "d"), ("shown twice", 11, "d"), ("closed", 6, "d"),
           ("recovery s", 10, "f"), ("echo med s", 10, "f"), ("echo max s", 10, "f")]


def table_row(values):
    cells = []
    for (name, width, kind), value in zip(COLUMNS, values):
        if value is None:
            text = "-"
        elif kind == "f":
            text = "%.1f" % value
        else:
            text = str(value)
        cells.append(text.ljust(width) if kind == "s" else text.rjust(width))
    return "  ".join(cells)


def report(results, meta, cfg, scenarios):
    out = []
    w = out.append
    w("fault benchmark: what each fault costs protocol-following chat clients (bench/faults.py)")
    w("date:     %s" % meta["date"])
    w("machine:  %s, %d CPUs, python %s (%s)" % (platform.platform(), os.cpu_count() or 0,
                                                  platform.python_version(), meta["python"]))
    w("command:  %s" % meta["command"])
    w("code:     git %s" % meta["git"])
    w("stack:    a fresh one per scenario: %s, private on 127.0.0.1, no persistence; Daphne 1.4.2 via "
      "deploy/daphne.sh (--proxy-headers) with the shipped budgets (5 frames/s and 20 at once per socket, "
      "10/s and 50 per address, 5 new sockets/s and 30 per address); 2 runworkers; database: %s"
      % (meta["redis"], meta["database"]))
    w("load:     %d chatters in one room (a new room per repeat), each from its own X-Forwarded-For "
      "address, a message every %.2f s +-20%% (%.1f messages/s in all), each with a new client_id; "
      "no echo in %g s: close, reconnect, resend; back-off %.1f s doubling to %.0f s; holes filled from the "
      "HTTP API after %g s; at most %d unanswered messages each"
      % (cfg.clients, cfg.interval, cfg.clients / cfg.interval, cfg.echo_timeout, BACKOFF_FIRST,
         BACKOFF_MAX, cfg.gap_patience, PENDING_CAP))
    w("timing:   per repeat: first echo for all, %gs warm-up, the fault, chat until all recovered and at "
      "least %gs (at most %gs) after it, %gs drain without typing, %gs settle; flood %gs"
      % (cfg.warmup, cfg.after, cfg.max_after, cfg.drain, SETTLE, cfg.flood_seconds))
    w("")
    w("sent: distinct client_ids sent at least once. acked: the sender saw its echo (a message frame with "
      "its client_id, live, in a catch-up or, counted in the notes, in a hole fill). saved: of those sent, "
      "in the database at the end. lost acked: acked but not saved; lost sent: sent but not saved by the "
      "end. dup saved: a client_id saved as more than one row. shown twice: a client_id one client holds "
      "under two ids after keeping messages by id (summed over clients). closed: chatter sockets the "
      "server closed or dropped (the chatters' own closes after an echo timeout are not counted). "
      "recovery: from the end of the fault until every chatter saw the echo of a message it typed after "
      "it. echo med/max: from typing to echo, over all acked messages of the repeat. fault s: from the "
      "fault until the harness had restored the service (see each scenario below).")
    w("")
    header = "  ".join(name.ljust(width) if kind == "s" else name.rjust(width) for name, width, kind in COLUMNS)
    w(header)
    w("-" * len(header))
    by_key = collections.defaultdict(list)
    for result in results:
        by_key[result["scenario"]].append(result)
    for scenario in scenarios:
        for result in by_key.get(scenario.key, []):
            if "skipped" in result:
                w(table_row([scenario.key, None] + [None] * (len(COLUMNS) - 2)) + "   skipped: " + result["skipped"])
                continue
            if "error" in result:
                w(table_row([scenario.key, result["rep"]] + [None] * (len(COLUMNS) - 2)) + "   FAILED (see below)")
                continue
            w(table_row([scenario.key, result["rep"], result["fault_seconds"], result["sent"], result["acked"],
                         result["persisted"], result["lost_acked"], result["lost_sent"], result["dup_saved"],
                         result["shown_twice"], result["closed"], result["recovery"], result["median_wait"],
                         result["worst_wait"]]))
    w("")
    w("Scenarios, and per repeat what the clients did about it:")
    codes = {result["code"] for result in results if "code" in result}
    for scenario in scenarios:
        ran = sorted({result["code"] for result in by_key.get(scenario.key, []) if "code" in result})
        w("  %s: %s%s%s" % (scenario.key, scenario.title,
                            "" if not scenario.closes_expected else " (server closes are part of this fault)",
                            "" if len(codes) < 2 else " [code: git %s]" % ", ".join(ran)))
        for result in by_key.get(scenario.key, []):
            if "skipped" in result:
                w("    skipped: %s" % result["skipped"])
            elif "error" in result:
                w("    rep %d FAILED: %s" % (result["rep"], result["error"].strip().replace("\n", "\n      ")))
            else:
                w("    rep %d: %s" % (result["rep"], details_of(result)))
    w("")
    defects = []
    for scenario in scenarios:
        for result in by_key.get(scenario.key, []):
            if "skipped" in result:
                continue
            for text in defects_of(result, scenario):
                defects.append("%s rep %d: %s" % (scenario.key, result["rep"], text))
    findings = []
    for scenario in scenarios:
        for result in by_key.get(scenario.key, []):
            if "skipped" in result or "error" in result:
                continue
            for text in findings_of(result):
                findings.append("%s rep %d: %s" % (scenario.key, result["rep"], text))
    if findings:
        w("Findings (costs beyond the fault itself; see also the notes above):")
        for text in findings:
            w("  - " + text)
        w("")
    if defects:
        w("Defects (what a protocol-following client should never see):")
        for text in defects:
            w("  - " + text)
        for key in sorted({text.split(" rep ")[0] for text in defects}):
            w("  reproduce: %s" % meta["reproduce"].replace("<scenario>", key))
    else:
        w("Defects: none. No acknowledged message was lost, no client_id was saved twice, no client held "
          "a message twice, every client recovered, and the flood closed no chatter's socket.")
    return "\n".join(out) + "\n", defects


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

class Config(object):
    def __init__(self, args):
        for key, value in vars(args).items():
            setattr(self, key, value)


def run_scenario(scenario, cfg, workdir, postgres, log):
    from bench.harness.stacks import ProjectStack
    results = []
    env = {}
    if postgres is not None:
        env["DATABASE_URL"] = postgres.create_database("faults_%s_%s" % (
            scenario.key.replace("-", "_"), uuid.uuid4().hex[:6]))
    code = code_fingerprint()[0]
    log("[%s] starting a stack (code: git %s)" % (scenario.key, code))
    # The shipped budgets; 2 workers logging what they dispatch (-v 2: which worker ran what).
    with ProjectStack(os.path.join(workdir, scenario.key), workers=2, presence=False, env=env,
                      worker_args=["-v", "2"]) as stack:
        log("[%s] redis pid %d port %d, daphne pid %d port %d, workers %s" % (
            scenario.key, stack.redis.pid, stack.redis_port, stack.daphne.pid, stack.http_port,
            ", ".join(str(w.pid) for w in stack.workers)))
        ctx = Context(stack, postgres, cfg)
        for rep in range(1, cfg.repeat + 1):
            if rep > 1:
                time.sleep(BETWEEN_REPEATS)
            t0 = mono()
            try:
                result = run_repeat(ctx, scenario, rep)
            except Exception as error:
                log("[%s] rep %d failed: %r" % (scenario.key, rep, error))
                tail = stack.logs(lines=15)
                results.append({"scenario": scenario.key, "rep": rep,
                                "error": "%s\n%s" % (traceback.format_exc(), tail)})
                break  # the stack may be broken: on to the next scenario
            result["max_after"] = cfg.max_after
            result["code"] = code
            results.append(result)
            log("[%s] rep %d (%.0fs): sent %d acked %d saved %d lost %d/%d dup %d/%d closed %d "
                "recovery %s s, echo max %s s; %s" % (
                    scenario.key, rep, mono() - t0, result["sent"], result["acked"], result["persisted"],
                    result["lost_acked"], result["lost_sent"], result["dup_saved"], result["shown_twice"],
                    result["closed"], fmt_seconds(result["recovery"]), fmt_seconds(result["worst_wait"]),
                    details_of(result)))
            if not all(worker.alive() for worker in stack.workers):
                raise RuntimeError("a worker died on its own:\n" + stack.logs(lines=30))
    return results


def main():
    parser = argparse.ArgumentParser(
        description="What each fault (flood, worker SIGKILL, Redis restart or freeze, PostgreSQL restart, "
                    "Daphne SIGKILL) costs protocol-following chat clients.")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="sqlite (default) or postgresql (a private server; postgres-restart needs it)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each scenario (default 3)")
    parser.add_argument("--scenarios", default=",".join(SCENARIO_KEYS),
                        help="comma-separated, of: %s (default all)" % ", ".join(SCENARIO_KEYS))
    parser.add_argument("--clients", type=int, default=6, help="chatters in the room (default 6)")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between one chatter's messages")
    parser.add_argument("--echo-timeout", type=float, default=8.0,
                        help="seconds without an echo before a chatter reconnects and resends (default 8)")
    parser.add_argument("--gap-patience", type=float, default=2.0,
                        help="seconds a hole may stay open before it is filled over HTTP (default 2)")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds of chat before the fault")
    parser.add_argument("--after", type=float, default=12.0, help="least seconds of chat after the fault")
    parser.add_argument("--max-after", type=float, default=40.0,
                        help="most seconds to wait after the fault for every chatter to recover")
    parser.add_argument("--drain", type=float, default=30.0,
                        help="most seconds, without typing, for unanswered messages to get through")
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="how long the flooder floods")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (process logs, per-repeat traces)")
    parser.add_argument("--output", default="",
                        help="also write the report here, e.g. %s; default: print only"
                             % os.path.relpath(DEFAULT_OUTPUT, os.getcwd()))
    parser.add_argument("--flooder", nargs=3, metavar=("URL", "ADDRESS", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flooder:
        run_flooder(args.flooder[0], args.flooder[1], float(args.flooder[2]))
        return 0
    keys = [key.strip() for key in args.scenarios.split(",") if key.strip()]
    unknown = [key for key in keys if key not in SCENARIO_KEYS]
    if unknown or not keys:
        parser.error("unknown scenario(s) %s; choose from %s" % (", ".join(unknown), ", ".join(SCENARIO_KEYS)))
    if args.repeat < 1 or args.clients < 1 or args.interval <= 0:
        parser.error("--repeat, --clients and --interval must be positive")
    if args.clients > 250:
        parser.error("--clients: at most 250 (one 10.0.0.x address each)")
    if args.interval * 1.0 < 0.8 / 5:
        parser.error("--interval: one socket may send 5 frames a second; stay under it")
    cfg = Config(args)
    scenarios = [s for s in SCENARIOS if s.key in keys]

    def log(line):
        print(line, flush=True)

    command = shlex.join([os.path.relpath(sys.executable, os.getcwd())] + sys.argv)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "python": os.path.relpath(sys.executable, os.getcwd()),
        "command": command,
        "git": code_fingerprint()[0],
        "redis": program_version(["redis-server", "--version"]),
    }
    git_at_start = code_fingerprint()
    meta["git"] = git_at_start[0]
    t0 = mono()
    workdir = tempfile.mkdtemp(prefix="chat-faults-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    postgres_context = None
    keep = args.keep
    try:
        postgres = None
        if args.database == "postgresql":
            from tests.support.postgres import postgres_program, private_postgres
            postgres_context = private_postgres(os.path.join(workdir, "postgres"))
            postgres = postgres_context.__enter__()
            meta["database"] = "%s, private on 127.0.0.1:%d (fsync off, as in the tests), a database " \
                               "per scenario" % (program_version([postgres_program("postgres"), "--version"]),
                                                 postgres.port)
            log("PostgreSQL pid %d on port %d" % (postgres.process.pid, postgres.port))
        else:
            meta["database"] = "SQLite, a file per scenario in the temporary directory"
        for scenario in scenarios:
            if scenario.needs_postgres and postgres is None:
                results.append({"scenario": scenario.key, "rep": 0,
                                "skipped": "needs --database postgresql"})
                continue
            try:
                results.extend(run_scenario(scenario, cfg, workdir, postgres, log))
            except Exception:
                log("[%s] failed:\n%s" % (scenario.key, traceback.format_exc()))
                results.append({"scenario": scenario.key, "rep": 0, "error": traceback.format_exc()})
    finally:
        if postgres_context is not None:
            postgres_context.__exit__(*sys.exc_info())
    meta["reproduce"] = "%s %s --database %s --scenarios <scenario> --repeat 1 --keep" % (
        os.path.relpath(sys.executable, os.getcwd()), os.path.relpath(os.path.abspath(__file__), os.getcwd()),
        args.database)
    git_at_end, fingerprint_at_end = code_fingerprint()
    if fingerprint_at_end != git_at_start[1]:
        meta["git"] += ("; CHANGED DURING THE RUN, now %s: each scenario below names the code its stack "
                        "started with" % git_at_end)
    text, defects = report(results, meta, cfg, scenarios)
    text += "(whole run: %.0fs)\n" % (mono() - t0)
    has_defects = bool(defects)
    if has_defects:
        keep = True  # the process logs show what happened
    if keep:
        log("process logs kept in %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(text, end="")
    if args.output:
        write_report(args.output, text)
    return 1 if has_defects else 0


if __name__ == "__main__":
    sys.exit(main())
