"""
A bounded soak of the whole worker-mode stack: many sockets for a long
while, with connect/disconnect churn and steady chat, watching for leaks
and for lost or duplicated messages.

    .venv/bin/python bench/soak.py --minutes 10 --sockets 1000 --output bench/results/soak.txt
    .venv/bin/python bench/soak.py --minutes 1 --sockets 200               # smoke check, ~2 min
    .venv/bin/python bench/soak.py --postgres ...       # a private PostgreSQL instead of SQLite
    .venv/bin/python bench/soak.py --database-url postgres://user@host:port/db ...

What it starts (and stops, by pid, in a finally block, also on Ctrl-C or
SIGTERM): the harness's ProjectStack (bench/harness/stacks.py), i.e. a
private redis-server on a free port, the database migrated,
deploy/daphne.sh and two deploy/worker.sh (--workers), without runpresence;
SQLite in a temporary directory unless --database-url or --postgres says
otherwise.

All the load comes from this one process on 127.0.0.1, so the stack runs
with tests/support's loosened TEST_BUDGETS (per-address frame and connect
budgets off, 100 frames/s per socket): the shipped 5 new sockets/s per
address would refuse the churn. --shipped-budgets keeps the shipped budgets
and spreads the sockets over --addresses fake client addresses instead
(X-Forwarded-For, which Daphne trusts with the shipped --proxy-headers).

The load (class Load): one selector loop over every socket (websocket-client
objects read when epoll says they are readable) plus a few threads that only
do handshakes, so ~1000 sockets cost a fraction of one core:
  - keeps --sockets sockets open, spread over --rooms rooms of this run;
  - churn: --churn sockets a second are picked at random, stop sending,
    wait for their own echoes, close (a clean close handshake), and new
    ones open in their place;
  - chat: --chat-rate messages a second, each from a random open socket,
    each with a client_id never used before; every send and every echo to
    its sender (the "ack") is recorded.
Every --interval seconds (class Sampler) it samples the VmRSS and CPU of
Daphne and each worker (/proc/<pid>/status, /proc/<pid>/stat), Redis DBSIZE,
used_memory, the members of every Group (asgi::group:* sorted sets) and the
channel sessions kept in Redis (if the project keeps them there), and the
rows of django_session and chat_message (read-only connections).

At the end: chat and churn stop, echoes are awaited, a quiet period, a
sample with the sockets still open; then every socket is closed, another
quiet period, the last sample. The report compares the database with what
was sent and acknowledged, and says whether RSS, Redis and the session table
are flat (the tolerances are printed with the verdicts).

Experiments (each is said in the report's header):
  --stall-workers AT:SECONDS  stop every runworker (SIGSTOP, by pid) AT
                              seconds into the load for SECONDS, then go on
  --gc-every SECONDS          Daphne runs gc.collect() that often (a
                              sitecustomize on the stack's PYTHONPATH, no
                              project file touched); the report says what
                              the collections found
  --close-rate N              sockets closed a second at the end (100000:
                              all at once)
  --env NAME=VALUE            any setting for the stack's processes
  --keep                      keep the temporary directory (every log)

tests/integration/test_soak.py runs a short version through run_soak().
"""
import argparse
import collections
import datetime
import json
import os
import platform
import queue
import random
import selectors
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import redis  # noqa: E402
import websocket  # noqa: E402

from tests.support.processes import TEST_BUDGETS  # noqa: E402

from bench.harness.measure import cpu_seconds, rss_bytes  # noqa: E402
from bench.harness.provenance import program_version, tree_state  # noqa: E402
from bench.harness.stacks import ProjectStack  # noqa: E402
from bench.results_file import write_report  # noqa: E402

DEFAULT_OUTPUT = os.path.join(HERE, "results", "soak.txt")
MIB = 1024.0 * 1024.0
# Django's cache session store names its keys "django.contrib.sessions.cache"
# + session key; django-redis puts "<KEY_PREFIX>:<version>:" in front.
REDIS_SESSION_KEYS = "*django.contrib.sessions.cache*"


# ---------------------------------------------------------------------------
# The parameters, and the tolerances of the verdicts
# ---------------------------------------------------------------------------

class SoakConfig(object):
    """Everything a soak run is told. `duration` (seconds of churn and chat)
    or `total` (sockets to open in all, then stop) ends the load phase,
    whichever comes first."""

    def __init__(self, sockets=1000, rooms=20, churn=5.0, chat_rate=5.0, duration=600.0,
                 total=None, interval=10.0, warmup=60.0, quiet=10.0, connect_rate=50.0,
                 close_rate=50.0, connectors=8, seed=1, shipped_budgets=False, addresses=1000,
                 echo_timeout=30.0, ramp_timeout=300.0, drain_timeout=60.0,
                 rss_tolerance=0.10, rss_margin_mib=8.0, count_tolerance=0.02, count_margin=5,
                 redis_key_margin=20, redis_margin_mib=2.0, stall_at=None, stall_seconds=0.0):
        self.sockets = sockets                # sockets kept open
        self.rooms = rooms                    # rooms they are spread over
        self.churn = churn                    # sockets closed (and replaced) a second
        self.chat_rate = chat_rate            # chat messages sent a second, in all
        self.duration = duration              # seconds of churn and chat
        self.total = total                    # or: stop once this many sockets were opened
        self.interval = interval              # seconds between samples
        self.warmup = warmup                  # seconds of load before the reference sample
        self.quiet = quiet                    # seconds of quiet before the end samples
        self.connect_rate = connect_rate      # most new sockets a second (ramp-up, churn)
        self.close_rate = close_rate          # sockets closed a second at the end
        self.connectors = connectors          # threads doing handshakes
        self.seed = seed
        self.shipped_budgets = shipped_budgets
        self.addresses = addresses            # fake client addresses with shipped budgets
        self.echo_timeout = echo_timeout      # an echo later than this counts as overdue
        self.ramp_timeout = ramp_timeout
        self.drain_timeout = drain_timeout    # most seconds to wait for the last echoes
        # Flat: final - reference <= max(rss_tolerance * reference, rss_margin_mib).
        self.rss_tolerance = rss_tolerance
        self.rss_margin_mib = rss_margin_mib
        # "About the open sockets": |value - open| <= max(count_tolerance * open, count_margin).
        self.count_tolerance = count_tolerance
        self.count_margin = count_margin
        # Redis keys: within this many of the reference (rooms' Groups, stats, in-flight messages).
        self.redis_key_margin = redis_key_margin
        # Redis used_memory: max(rss_tolerance * reference, redis_margin_mib).
        self.redis_margin_mib = redis_margin_mib
        # Fault injection: stall_at seconds into the load, every runworker is
        # stopped (SIGSTOP, by pid) for stall_seconds, then continued.
        self.stall_at = stall_at
        self.stall_seconds = stall_seconds

    def describe(self):
        end = []
        if self.duration is not None:
            end.append("%.0f s of churn and chat" % self.duration)
        if self.total is not None:
            end.append("until %d sockets were opened in all" % self.total)
        return ("%d sockets open in %d rooms; churn %.1f sockets/s closed and replaced; chat %.1f "
                "messages/s; %s; sample every %.0f s; reference sample after %.0f s of load; "
                "quiet %.0f s; connects at most %.0f/s (%d handshake threads); closed at the end "
                "%.0f/s; seed %d"
                % (self.sockets, self.rooms, self.churn, self.chat_rate, " or ".join(end),
                   self.interval, self.warmup, self.quiet, self.connect_rate, self.connectors,
                   self.close_rate, self.seed))


# ---------------------------------------------------------------------------
# The load: one selector loop over every socket, handshakes in threads
# ---------------------------------------------------------------------------

CONNECTING, OPEN, DRAINING, CLOSING, CLOSED = "connecting", "open", "draining", "closing", "closed"


class Client(object):
    """One socket of the load, and what it has sent that awaits its echo."""

    __slots__ = ("number", "room", "handle", "url", "headers", "ws", "state", "pending",
                 "opened_at", "deadline", "index")

    def __init__(self, number, room, url, headers):
        self.number = number
        self.room = room
        self.handle = "soak%d" % number
        self.url = url
        self.headers = headers
        self.ws = None
        self.state = CONNECTING
        self.pending = collections.OrderedDict()  # client_id -> time sent, in send order
        self.opened_at = None
        self.deadline = None
        self.index = None  # position in Load._active, or None


class Load(object):
    """
    Keeps `target` sockets open over `rooms` (labels), closes `churn` of
    them a second and sends `chat_rate` messages a second, in one thread.
    configure() changes the rates while it runs; counts, the send/ack
    records and snapshot() are for the caller (read them under `lock`, or
    after stop()).
    """

    def __init__(self, ws_url, rooms, cfg, run_id):
        self.ws_url = ws_url
        self.rooms = list(rooms)
        self.cfg = cfg
        self.run_id = run_id
        self.rng = random.Random(cfg.seed)
        self.lock = threading.Lock()
        self.target = 0
        self.churn = 0.0
        self.chat_rate = 0.0
        self.open_new = True          # False: no new sockets (end of the load, or total reached)
        self.closing_all = False
        self.counts = collections.Counter()
        self.sent = {}                # client_id -> (room, handle, socket number, time sent)
        self.acked = {}               # client_id -> (message id, seconds to the echo)
        self.errored = {}             # client_id -> error code
        self.lost_sockets = []        # details of the first unexpected closes
        self.connect_errors = collections.Counter()
        self.close_codes = collections.Counter()
        self.error_codes = collections.Counter()
        self._selector = selectors.DefaultSelector()
        self._active = []             # OPEN clients (random choice for chat and churn)
        self._clients = {}            # number -> every client not yet CLOSED
        self._connecting = 0
        self._requested = 0
        self._message_number = 0
        self._overdue = set()         # client_ids counted as overdue once
        self._handshakes = queue.Queue()
        self._connected = queue.Queue()
        self._stop = threading.Event()
        self._threads = []

    # -- the caller's side ------------------------------------------------

    def start(self):
        for number in range(self.cfg.connectors):
            thread = threading.Thread(target=self._handshake_thread, name="handshake-%d" % number,
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        self._loop_thread = threading.Thread(target=self._loop_guarded, name="soak-loop", daemon=True)
        self._loop_thread.start()

    def configure(self, **settings):
        with self.lock:
            for key, value in settings.items():
                setattr(self, key, value)

    def snapshot(self):
        with self.lock:
            return dict(open=len(self._active), live=len(self._clients) - self._connecting,
                        connecting=self._connecting, requested=self._requested,
                        pending=sum(len(c.pending) for c in self._clients.values()),
                        opened=self.counts["opened"], sent=len(self.sent), acked=len(self.acked))

    def stop(self):
        self._stop.set()
        for _ in self._threads:
            self._handshakes.put(None)
        self._loop_thread.join(30)
        for thread in self._threads:
            thread.join(30)
        # Whatever is still open is cut (normally nothing: close_all() ran).
        for client in list(self._clients.values()):
            if client.ws is not None:
                try:
                    client.ws.shutdown()
                except Exception:
                    pass
        while True:
            try:
                item = self._connected.get_nowait()
            except queue.Empty:
                break
            if item[1] is not None:
                item[1].shutdown()
        self._selector.close()
        if getattr(self, "failure", None):
            raise RuntimeError("the load loop failed: %s" % self.failure)

    # -- handshakes, in threads ---------------------------------------------

    def _handshake_thread(self):
        while True:
            client = self._handshakes.get()
            if client is None or self._stop.is_set():
                return
            try:
                ws = websocket.create_connection(client.url, timeout=20, header=client.headers,
                                                 skip_utf8_validation=True)
                self._connected.put((client, ws, None))
            except Exception as error:  # refused, timed out, reset: counted by kind
                self._connected.put((client, None, error))

    # -- the loop -------------------------------------------------------------

    def _loop_guarded(self):
        try:
            self._loop()
        except BaseException as error:  # reported by stop(); the run must not hang
            import traceback
            self.failure = "%r\n%s" % (error, traceback.format_exc())
            self._stop.set()

    def _loop(self):
        last = time.monotonic()
        chat_tokens = churn_tokens = 0.0
        connect_tokens = float(self.cfg.connect_rate)
        close_tokens = 0.0
        next_check = last
        while not self._stop.is_set():
            now = time.monotonic()
            elapsed, last = now - last, now
            self._adopt_connected(now)
            with self.lock:
                chat_rate, churn, target = self.chat_rate, self.churn, self.target
                open_new, closing_all = self.open_new, self.closing_all
            connect_tokens = min(connect_tokens + elapsed * self.cfg.connect_rate,
                                 max(1.0, self.cfg.connect_rate / 5.0))
            if open_new and not closing_all:
                deficit = target - len(self._active) - self._connecting
                if self.cfg.total is not None:
                    deficit = min(deficit, self.cfg.total - self._requested)
                while deficit > 0 and connect_tokens >= 1:
                    self._request_socket()
                    connect_tokens -= 1
                    deficit -= 1
            if chat_rate > 0:
                chat_tokens = min(chat_tokens + elapsed * chat_rate, max(1.0, chat_rate))
                while chat_tokens >= 1:
                    chat_tokens -= 1
                    self._send_one(now)
            else:
                chat_tokens = 0.0
            if churn > 0 and not closing_all:
                churn_tokens = min(churn_tokens + elapsed * churn, max(1.0, churn))
                while churn_tokens >= 1 and self._active:
                    churn_tokens -= 1
                    self._start_closing(self._active[self.rng.randrange(len(self._active))], now)
            else:
                churn_tokens = 0.0
            if closing_all:
                close_tokens = min(close_tokens + elapsed * self.cfg.close_rate,
                                   max(1.0, self.cfg.close_rate))
                while close_tokens >= 1 and self._active:
                    close_tokens -= 1
                    self._start_closing(self._active[-1], now)
            if now >= next_check:
                next_check = now + 0.5
                self._check_deadlines(now)
            for key, _ in self._selector.select(timeout=0.02):
                self._read(key.data, time.monotonic())

    def _request_socket(self):
        number = self._requested
        self._requested += 1
        room = self.rooms[number % len(self.rooms)]
        headers = []
        if self.cfg.shipped_budgets:
            address = number % max(1, self.cfg.addresses)
            headers.append("X-Forwarded-For: 10.%d.%d.%d" % (
                (address >> 16) & 255, (address >> 8) & 255, address & 255))
        client = Client(number, room, self.ws_url("/chat/%s/" % urllib.parse.quote(room)), headers)
        with self.lock:
            self._clients[number] = client
            self._connecting += 1
        self._handshakes.put(client)

    def _adopt_connected(self, now):
        while True:
            try:
                client, ws, error = self._connected.get_nowait()
            except queue.Empty:
                return
            with self.lock:
                self._connecting -= 1
                if ws is None:
                    self.counts["connect_failed"] += 1
                    self.connect_errors[_describe_error(error)] += 1
                    client.state = CLOSED
                    del self._clients[client.number]
                    continue
                client.ws = ws
                client.opened_at = now
                client.state = OPEN
                self.counts["opened"] += 1
                client.index = len(self._active)
                self._active.append(client)
            # Reads happen only when epoll says there are bytes; a frame split
            # over two segments (never seen on loopback) waits at most this.
            ws.settimeout(5)
            self._selector.register(ws.sock, selectors.EVENT_READ, client)

    def _deactivate(self, client):
        """Take an OPEN client out of the list chat and churn choose from."""
        if client.index is None:
            return
        last = self._active.pop()
        if last is not client:
            self._active[client.index] = last
            last.index = client.index
        client.index = None

    def _send_one(self, now):
        if not self._active:
            self.counts["chat_skipped"] += 1
            return
        # A random open socket; one with several echoes outstanding is passed over.
        for _ in range(5):
            client = self._active[self.rng.randrange(len(self._active))]
            if len(client.pending) < 3:
                break
        else:
            self.counts["chat_skipped"] += 1
            return
        self._message_number += 1
        client_id = "%s-%d-%d" % (self.run_id, client.number, self._message_number)
        frame = json.dumps({"handle": client.handle, "client_id": client_id,
                            "message": "soak message %d from socket %d in %s"
                                       % (self._message_number, client.number, client.room)})
        with self.lock:
            self.sent[client_id] = (client.room, client.handle, client.number, now)
        client.pending[client_id] = now
        try:
            client.ws.send(frame)
        except Exception as error:
            self._lost(client, "send failed: %s" % _describe_error(error), now)

    def _start_closing(self, client, now):
        """Churn picked this socket: it sends no more, and closes once its echoes are in."""
        self._deactivate(client)
        client.state = DRAINING
        client.deadline = now + self.cfg.echo_timeout
        self._close_if_drained(client, now)

    def _close_if_drained(self, client, now):
        if client.state != DRAINING or (client.pending and now < client.deadline):
            return
        if client.pending:
            self.counts["closed_with_pending"] += 1
        client.state = CLOSING
        client.deadline = now + 10
        try:
            client.ws.send_close(websocket.STATUS_NORMAL, b"")
        except Exception as error:
            self._lost(client, "close failed: %s" % _describe_error(error), now)

    def _check_deadlines(self, now):
        for client in list(self._clients.values()):
            if client.state == CLOSING and now > client.deadline:
                self.counts["close_timeouts"] += 1
                self._finish(client)
            elif client.state == DRAINING:
                self._close_if_drained(client, now)
            for client_id, sent_at in client.pending.items():
                if now - sent_at > self.cfg.echo_timeout and client_id not in self._overdue:
                    self._overdue.add(client_id)
                    self.counts["echo_overdue"] += 1

    def _read(self, client, now):
        if client.state == CLOSED:
            return
        try:
            opcode, frame = client.ws.recv_data_frame(True)
        except websocket.WebSocketTimeoutException:
            self.counts["read_timeouts"] += 1
            return
        except Exception as error:  # the connection went away under us
            if client.state == CLOSING:
                self.counts["closed_by_client"] += 1
                self._finish(client)
            else:
                self._lost(client, _describe_error(error), now)
            return
        if opcode == websocket.ABNF.OPCODE_TEXT:
            self._on_text(client, frame.data, now)
        elif opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
            if client.state == CLOSING:
                self.counts["closed_by_client"] += 1
                self._finish(client)
            else:
                self._lost(client, "server closed with code %s" % code, now, code)
        elif opcode == websocket.ABNF.OPCODE_PING:
            self.counts["pings"] += 1  # websocket-client has answered it already
        else:
            self.counts["other_frames"] += 1

    def _on_text(self, client, data, now):
        try:
            message = json.loads(data)
        except ValueError:
            self.counts["bad_frames"] += 1
            return
        kind, client_id = message.get("type"), message.get("client_id")
        if kind == "message":
            if client_id is not None and client_id in client.pending:
                if next(iter(client.pending)) != client_id:
                    self.counts["echo_out_of_order"] += 1
                sent_at = client.pending.pop(client_id)
                with self.lock:
                    self.acked[client_id] = (message.get("id"), now - sent_at)
                if client.state == DRAINING:
                    self._close_if_drained(client, now)
            else:
                self.counts["deliveries"] += 1  # someone else's message (or a resend)
        elif kind == "error":
            code = message.get("code")
            self.error_codes[code] += 1
            if client_id is not None and client_id in client.pending:
                client.pending.pop(client_id)
                with self.lock:
                    self.errored[client_id] = code
                if client.state == DRAINING:
                    self._close_if_drained(client, now)
        else:
            self.counts["other_frames"] += 1

    def _lost(self, client, why, now, code=None):
        """The server closed (or broke) a socket this side had not asked to close."""
        self.counts["closed_by_server"] += 1
        self.close_codes[code if code is not None else "no close frame"] += 1
        if len(self.lost_sockets) < 20:
            self.lost_sockets.append("socket %d in %s, %s after %.1f s, %d echoes outstanding: %s"
                                     % (client.number, client.room, client.state,
                                        now - (client.opened_at or now), len(client.pending), why))
        self._deactivate(client)
        self._finish(client)

    def _finish(self, client):
        with self.lock:
            if client.state == CLOSED:
                return
            self._deactivate(client)
            client.state = CLOSED
            self.counts["closed"] += 1
            self._clients.pop(client.number, None)
            unanswered = len(client.pending)
        if unanswered:
            self.counts["unanswered_at_close"] += unanswered
        try:
            self._selector.unregister(client.ws.sock)
        except Exception:
            pass
        try:
            client.ws.shutdown()
        except Exception:
            pass


def _describe_error(error):
    text = str(error).splitlines()[0] if str(error) else ""
    return ("%s: %s" % (type(error).__name__, text[:80])).rstrip(": ")


# ---------------------------------------------------------------------------
# Samples: processes, Redis, the database
# ---------------------------------------------------------------------------

class ReadOnlyDatabase(object):
    """COUNT queries on SQLite (mode=ro) or PostgreSQL (a read-only session)."""

    def __init__(self, url):
        self.url = url
        self.sqlite = url.startswith("sqlite:///")

    def connect(self):
        if self.sqlite:
            path = self.url[len("sqlite:///"):]
            return sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path), uri=True, timeout=30)
        import psycopg2
        connection = psycopg2.connect(self.url, connect_timeout=10)
        connection.set_session(readonly=True, autocommit=True)
        return connection

    def query(self, sql, params=()):
        connection = self.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
            return cursor.fetchall()
        finally:
            connection.close()

    def count(self, table):
        return self.query("SELECT COUNT(*) FROM %s" % table)[0][0]


class Sampler(object):
    """One row of measurements of the running stack."""

    def __init__(self, stack, database_url):
        self.processes = [("daphne", stack.daphne)] + [
            ("worker%d" % number, worker) for number, worker in enumerate(stack.workers, 1)]
        self.processes.append(("soak", None))  # this load generator itself
        self.redis = redis.StrictRedis(host="127.0.0.1", port=stack.redis_port, socket_timeout=30)
        self.database = ReadOnlyDatabase(database_url)
        self.started = time.monotonic()
        self._cpu = {}

    def names(self):
        return [name for name, _ in self.processes]

    def session_counts(self):
        """Channel sessions: (rows of django_session, keys of Django's cache
        session store in this Redis). The project has kept them in the
        database, and, with django-redis, in Redis: both are counted."""
        redis_sessions = sum(1 for _ in self.redis.scan_iter(match=REDIS_SESSION_KEYS, count=1000))
        return self.database.count("django_session"), redis_sessions

    def group_members(self):
        """(Groups, memberships, distinct sockets that are members): a socket
        may be in several Groups (its room's, and any site-wide one)."""
        groups, memberships, sockets = 0, 0, set()
        for key in self.redis.scan_iter(match="asgi::group:*", count=1000):
            members = self.redis.zrange(key, 0, -1)
            groups += 1
            memberships += len(members)
            sockets.update(members)
        return groups, memberships, len(sockets)

    def sample(self, phase, load_snapshot):
        now = time.monotonic()
        row = {"t": now - self.started, "phase": phase, "open": load_snapshot["open"],
               "live": load_snapshot["live"], "opened": load_snapshot["opened"],
               "rss": {}, "cpu": {}, "alive": {}}
        for name, process in self.processes:
            pid = os.getpid() if process is None else process.pid
            row["alive"][name] = process is None or process.alive()
            row["rss"][name] = rss_bytes(pid, missing=None)
            cpu = cpu_seconds(pid, missing=None)
            before = self._cpu.get(name)
            row["cpu"][name] = (None if cpu is None or before is None
                                else 100.0 * (cpu - before[0]) / max(1e-6, now - before[1]))
            self._cpu[name] = (cpu, now)
        with open("/proc/loadavg") as handle:
            row["loadavg"] = float(handle.read().split()[0])  # the whole machine's, shared
        row["redis_keys"] = self.redis.dbsize()
        row["redis_memory"] = int(self.redis.info("memory")["used_memory"])
        row["groups"], row["group_members"], row["member_sockets"] = self.group_members()
        row["db_sessions"], row["redis_sessions"] = self.session_counts()
        row["sessions"] = row["db_sessions"] + row["redis_sessions"]
        row["messages"] = self.database.count("chat_message")
        return row


# ---------------------------------------------------------------------------
# One soak run on a running stack (the test calls this too)
# ---------------------------------------------------------------------------

class WorkerStall(object):
    """Stops every runworker (SIGSTOP, by pid) for a while, once: a worker
    host that froze, swapped or was paused. Always continued (close())."""

    def __init__(self, workers, at, seconds):
        self.workers, self.at, self.seconds = list(workers), at, seconds
        self.stopped_at = self.resumed_at = None

    def tick(self, load_seconds, now):
        if self.at is None or self.resumed_at is not None:
            return
        if self.stopped_at is None and load_seconds >= self.at:
            self.stopped_at = now
            self._signal(signal.SIGSTOP)
        elif self.stopped_at is not None and now - self.stopped_at >= self.seconds:
            self.close(now)

    def close(self, now=None):
        if self.stopped_at is not None and self.resumed_at is None:
            self._signal(signal.SIGCONT)
            self.resumed_at = time.monotonic() if now is None else now

    def _signal(self, signum):
        for worker in self.workers:
            if worker.alive():
                os.kill(worker.pid, signum)


class SoakResult(object):
    """What run_soak() saw: counters, the audit against the database, the
    samples, and the verdicts (name, ok, detail)."""


def create_rooms(stack, count, run_id, timeout=60):
    """The run's rooms, created by visiting their pages (as a browser does)."""
    labels = ["soak-%s-%02d" % (run_id, number) for number in range(count)]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for label in labels:
        with opener.open(stack.url("/%s/" % label), timeout=timeout) as response:
            if response.status != 200:
                raise RuntimeError("GET /%s/ answered %s" % (label, response.status))
    return labels


def audit(database, rooms, load):
    """Compare what was sent and acknowledged with the rows saved in the run's rooms."""
    marks = ",".join("?" * len(rooms))
    rows = database.query(
        "SELECT m.client_id, COUNT(*), MIN(m.id) FROM chat_message m JOIN chat_room r "
        "ON r.id = m.room_id WHERE r.label IN (%s) GROUP BY m.client_id" % marks, tuple(rooms))
    saved = {client_id: (count, first_id) for client_id, count, first_id in rows}
    sent, acked, errored = set(load.sent), set(load.acked), set(load.errored)
    persisted = sent & set(saved)
    result = {
        "sent": len(sent),
        "acked": len(acked),
        "errored": len(errored),
        "persisted": len(persisted),
        "rows": sum(count for count, _ in saved.values()),
        # An acknowledged message that is not in the database: never acceptable.
        "lost_acked": sorted(acked - persisted),
        # Sent without an error frame, yet never saved (acked or not).
        "lost_sent": sorted(sent - errored - persisted),
        # Saved, but its sender never got the echo.
        "saved_unacked": sorted(persisted - acked),
        "duplicated": sorted(client_id for client_id, (count, _) in saved.items() if count > 1),
        "unknown_rows": sorted(client_id for client_id in saved if client_id not in sent),
        "id_mismatch": sorted(client_id for client_id in acked & persisted
                              if load.acked[client_id][0] != saved[client_id][1]),
    }
    return result


def run_soak(stack, database_url, cfg, log=print):
    """
    Drive a running stack (the harness's ProjectStack, or tests/support's
    chat_stack) for one soak (phases: ramp-up, load, drain, quiet, close,
    quiet) and return a SoakResult. Never raises for what it finds: the
    caller reads the verdicts.
    """
    result = SoakResult()
    result.cfg = cfg
    result.run_id = uuid.uuid4().hex[:8]
    result.started = datetime.datetime.now(datetime.timezone.utc)
    result.phases = collections.OrderedDict()
    rooms = create_rooms(stack, cfg.rooms, result.run_id)
    result.rooms = rooms
    sampler = Sampler(stack, database_url)
    result.process_names = sampler.names()
    samples = result.samples = []
    load = Load(stack.ws_url, rooms, cfg, result.run_id)
    stall = result.stall = WorkerStall(stack.workers, cfg.stall_at, cfg.stall_seconds)
    load_started = [None]
    t0 = time.monotonic()

    def take(phase):
        row = sampler.sample(phase, load.snapshot())
        samples.append(row)
        log("  %5.0fs %-9s %s" % (row["t"], phase, short_row(row, sampler.names())))
        return row

    def hold(phase, until, timeout=None):
        """Sample every cfg.interval until until() is true (or timeout seconds pass)."""
        started = time.monotonic()
        next_sample = samples[-1]["t"] + sampler.started + cfg.interval if samples else started
        while True:
            if until():
                return True
            now = time.monotonic()
            if timeout is not None and now - started >= timeout:
                return False
            if getattr(load, "failure", None):
                raise RuntimeError("the load loop failed: %s" % load.failure)
            if load_started[0] is not None:
                stall.tick(now - load_started[0], now)
            if now >= next_sample:
                take(phase)
                next_sample = max(next_sample + cfg.interval, time.monotonic())
            time.sleep(0.1)

    def mark(name):
        result.phases[name] = time.monotonic() - t0

    take("baseline")
    load.start()
    try:
        # Ramp-up: open the sockets, no chat yet.
        load.configure(target=cfg.sockets)
        ramp_goal = cfg.sockets if cfg.total is None else min(cfg.sockets, cfg.total)
        result.ramp_complete = hold("ramp-up", lambda: load.snapshot()["open"] >= ramp_goal,
                                    cfg.ramp_timeout)
        result.ramp_seconds = time.monotonic() - t0
        result.peak_open = load.snapshot()["open"]
        mark("ramp-up done")
        log("ramp-up: %d sockets open after %.1f s" % (result.peak_open, result.ramp_seconds))

        # The load: churn and chat, until the duration or the total is reached.
        load.configure(churn=cfg.churn, chat_rate=cfg.chat_rate)
        load_started[0] = time.monotonic()

        def load_over():
            now = time.monotonic()
            if cfg.duration is not None and now - load_started[0] >= cfg.duration:
                return True
            return cfg.total is not None and load.snapshot()["requested"] >= cfg.total

        def reference_taken():
            return time.monotonic() - load_started[0] >= cfg.warmup

        hold("load", reference_taken, None if cfg.total is None else cfg.warmup)
        take("reference")
        hold("load", load_over, None)
        mark("load done")
        result.load_seconds = time.monotonic() - load_started[0]
        stall.close()

        # Stop churn and chat; let the last echoes and handshakes arrive.
        load.configure(churn=0.0, chat_rate=0.0, open_new=False)
        hold("drain", lambda: load.snapshot()["pending"] == 0 and load.snapshot()["connecting"] == 0,
             cfg.drain_timeout)
        hold("quiet", lambda: False, cfg.quiet)
        take("end-load")
        mark("quiet, sockets open")

        # Close every socket (at cfg.close_rate), then quiet again.
        load.configure(closing_all=True)
        hold("closing", lambda: load.snapshot()["live"] == 0, 120)
        mark("all closed")
        quiet_started = time.monotonic()
        hold("quiet", lambda: False, cfg.quiet)
        result.sessions_after_quiet = sum(sampler.session_counts())
        # Sessions and Group members may take a moment longer when the
        # workers are behind; wait (bounded) for them before the last sample.
        settle = SettleCheck(sampler, cfg)
        hold("settle", settle, 60)
        result.settle_seconds = time.monotonic() - quiet_started
        take("closed")
        mark("end")
    finally:
        stall.close()
        load.stop()
    result.leftover_sessions = leftover_sessions(stack, sampler)
    result.log_errors = log_errors(stack)
    result.counts = load.counts
    result.connect_errors = load.connect_errors
    result.close_codes = load.close_codes
    result.error_codes = load.error_codes
    result.lost_sockets = load.lost_sockets
    latencies = sorted(latency for _, latency in load.acked.values())
    result.latency = latency_summary(latencies)
    result.audit = audit(sampler.database, rooms, load)
    result.alive = {name: ok for name, ok in samples[-1]["alive"].items()}
    result.verdicts = verdicts(result)
    result.ok = all(ok for _, ok, _ in result.verdicts)
    return result


class SettleCheck(object):
    """True once sessions and Group members are down to the margin (checked every 2 s)."""

    def __init__(self, sampler, cfg):
        self.sampler, self.cfg, self.next = sampler, cfg, 0

    def __call__(self):
        now = time.monotonic()
        if now < self.next:
            return False
        self.next = now + 2
        return sum(self.sampler.session_counts()) == 0 and self.sampler.group_members()[1] == 0


def leftover_sessions(stack, sampler, limit=10):
    """
    Channel sessions still there once every socket is closed (rows of
    django_session, keys in Redis): each with its decoded data, the reply
    channel it belongs to (channels names a channel session "chn" +
    sha1(reply channel)[:29]) and that channel's lines in the worker and
    Daphne logs, to see which consumer left it.
    """
    import base64
    import hashlib
    import pickle
    import re

    rows = []
    for session_key, data, expires in sampler.database.query(
            "SELECT session_key, session_data, expire_date FROM django_session ORDER BY expire_date"):
        try:
            data = base64.b64decode(data).split(b":", 1)[1].decode("utf8")
        except Exception:
            data = repr(data[:60])
        rows.append((session_key, data, "expires %s" % expires))
    for key in sampler.redis.scan_iter(match=REDIS_SESSION_KEYS, count=1000):
        key = key.decode("utf8")
        raw = sampler.redis.get(key)
        try:
            data = json.dumps(pickle.loads(raw))  # django-redis pickles what it stores
        except Exception:
            data = repr(raw[:60]) if raw else "(gone)"
        rows.append((key.split("django.contrib.sessions.cache", 1)[1], data,
                     "in Redis, TTL %s s" % sampler.redis.ttl(key)))
    if not rows:
        return []
    logs = {process.name: process.log_text() for process in stack.processes()
            if process.name.startswith(("runworker", "daphne"))}
    channels = set()
    for text in logs.values():
        channels.update(re.findall(r"daphne\.response\.[A-Za-z]+![A-Za-z]+", text))
    by_key = {"chn" + hashlib.sha1(name.encode("utf8")).hexdigest()[:29]: name for name in channels}
    found = []
    for session_key, decoded, expires in rows[:limit]:
        channel = by_key.get(session_key)
        lines = []
        if channel:
            for name, text in sorted(logs.items()):
                lines += ["%s: %s" % (name, line) for line in text.splitlines() if channel in line]
        found.append({"key": session_key, "data": decoded, "expires": str(expires),
                      "channel": channel, "lines": lines})
    return found


def log_errors(stack, limit=8):
    """name -> (count, first lines) of the notable lines of each process's
    log: tracebacks, errors, warnings, and the pruner's note that it dropped
    Group members (chat/pruning.py), which sockets closed cleanly should
    never leave it."""
    import re
    pattern = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|\bWARNING\b|Error processing|"
                         r"Dropped \d+ Group memberships")
    found = {}
    for process in stack.processes():
        lines = [line for line in process.log_text().splitlines()
                 if pattern.search(line) and "overcommit" not in line]  # redis-server's note on the VM
        if lines:
            found[process.name] = (len(lines), lines[:limit])
    return found


def latency_summary(values):
    if not values:
        return None

    def pick(q):
        return values[min(len(values) - 1, int(q * len(values)))]
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": values[-1]}


# ---------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------

def sample_named(samples, phase):
    for row in samples:
        if row["phase"] == phase:
            return row
    return None


def verdicts(result):
    """(name, ok, detail) for every check, with its tolerance in the detail."""
    cfg, samples, counts, a = result.cfg, result.samples, result.counts, result.audit
    base, ref = sample_named(samples, "baseline"), sample_named(samples, "reference")
    end, closed = sample_named(samples, "end-load"), sample_named(samples, "closed")
    out = []

    def check(name, ok, detail):
        out.append((name, bool(ok), detail))

    check("no acknowledged message lost", not a["lost_acked"],
          "%d acked but not saved" % len(a["lost_acked"]))
    check("no sent message lost", not a["lost_sent"],
          "%d sent without an error frame but never saved" % len(a["lost_sent"]))
    check("no duplicates", not a["duplicated"], "%d client_ids saved twice" % len(a["duplicated"]))
    check("every echo has the saved id", not a["id_mismatch"],
          "%d echoes with another id than the row" % len(a["id_mismatch"]))
    check("no unexpected server closes", counts["closed_by_server"] == 0,
          "%d sockets closed by the server without being asked" % counts["closed_by_server"])
    check("every handshake accepted", counts["connect_failed"] == 0,
          "%d handshakes failed" % counts["connect_failed"])
    check("every echo arrived in time", counts["echo_overdue"] == 0 and not a["saved_unacked"],
          "%d echoes later than %.0f s, %d saved messages never echoed to their sender"
          % (counts["echo_overdue"], cfg.echo_timeout, len(a["saved_unacked"])))
    check("processes alive", all(result.alive.values()),
          ", ".join("%s %s" % (n, "alive" if ok else "DEAD") for n, ok in result.alive.items()))

    def near(value, expected):
        return abs(value - expected) <= max(cfg.count_tolerance * expected, cfg.count_margin)

    tolerance = "within max(%.0f%%, %d)" % (100 * cfg.count_tolerance, cfg.count_margin)
    if end is not None:
        check("sessions = open sockets (load)", near(end["sessions"], end["open"]),
              "%d channel sessions (%d in django_session, %d in Redis) for %d open sockets, %s"
              % (end["sessions"], end["db_sessions"], end["redis_sessions"], end["open"], tolerance))
        check("Group members = open sockets (load)", near(end["member_sockets"], end["open"]),
              "%d sockets in %d Groups (%d memberships) for %d open sockets, %s"
              % (end["member_sockets"], end["groups"], end["group_members"], end["open"], tolerance))
    if closed is not None:
        check("sessions back to 0", closed["sessions"] <= cfg.count_margin,
              "%d channel sessions (%d in django_session, %d in Redis) with every socket closed "
              "(baseline %d), at most %d; %d right after the last close and %.0f s of quiet"
              % (closed["sessions"], closed["db_sessions"], closed["redis_sessions"], base["sessions"],
                 cfg.count_margin, result.sessions_after_quiet, cfg.quiet))
        check("Group members back to 0", closed["group_members"] <= cfg.count_margin,
              "%d memberships with every socket closed, at most %d"
              % (closed["group_members"], cfg.count_margin))
        check("Redis keys back to baseline", closed["redis_keys"] <= base["redis_keys"] + cfg.redis_key_margin,
              "%d keys with every socket closed, baseline %d, at most +%d (the rooms' Groups are gone, "
              "stats counters and in-flight messages)" % (closed["redis_keys"], base["redis_keys"],
                                                          cfg.redis_key_margin))
    if ref is not None and end is not None:
        check("Redis keys flat under load", end["redis_keys"] <= ref["redis_keys"] + cfg.redis_key_margin,
              "%d after the load, %d at the reference, at most +%d"
              % (end["redis_keys"], ref["redis_keys"], cfg.redis_key_margin))
        for name in result.process_names:
            if name == "soak":
                continue
            growth = rss_growth(ref, end, name)
            allowed = max(cfg.rss_tolerance * ref["rss"][name], cfg.rss_margin_mib * MIB)
            check("%s RSS flat" % name, growth is not None and growth <= allowed,
                  "%+.1f MiB from the reference (%.1f MiB) to the end of the load, at most +%.1f MiB "
                  "(max(%.0f%%, %.0f MiB)); fitted trend %s"
                  % ((growth or 0) / MIB, ref["rss"][name] / MIB, allowed / MIB,
                     100 * cfg.rss_tolerance, cfg.rss_margin_mib, trend_text(samples, name)))
        redis_allowed = max(cfg.rss_tolerance * ref["redis_memory"], cfg.redis_margin_mib * MIB)
        growth = end["redis_memory"] - ref["redis_memory"]
        check("Redis used_memory flat", growth <= redis_allowed,
              "%+.2f MiB from the reference (%.2f MiB), at most +%.1f MiB (max(%.0f%%, %.0f MiB))"
              % (growth / MIB, ref["redis_memory"] / MIB, redis_allowed / MIB,
                 100 * cfg.rss_tolerance, cfg.redis_margin_mib))
    return out


def rss_growth(before, after, name):
    if before["rss"].get(name) is None or after["rss"].get(name) is None:
        return None
    return after["rss"][name] - before["rss"][name]


def rss_trend(samples, name):
    """Least-squares slope of RSS over the samples from the reference to the
    end of the load, in MiB per 10 minutes (None with fewer than 3 samples)."""
    rows, inside = [], False
    for row in samples:
        if row["phase"] == "reference":
            inside = True
        if inside and row["phase"] in ("reference", "load") and row["rss"].get(name):
            rows.append((row["t"], row["rss"][name] / MIB))
    if len(rows) < 3:
        return None
    mean_t = statistics.mean(t for t, _ in rows)
    mean_v = statistics.mean(v for _, v in rows)
    var = sum((t - mean_t) ** 2 for t, _ in rows)
    if var == 0:
        return None
    return 600.0 * sum((t - mean_t) * (v - mean_v) for t, v in rows) / var


def trend_text(samples, name):
    slope = rss_trend(samples, name)
    return "n/a (too few samples)" if slope is None else "%+.2f MiB per 10 min" % slope


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def short_row(row, names):
    rss = " ".join("%s %.0f" % (name, (row["rss"][name] or 0) / MIB) for name in names)
    return ("open %4d | RSS MiB %s | redis keys %d, members %d, %.1f MiB | sessions db %d redis %d | "
            "messages %d" % (row["open"], rss, row["redis_keys"], row["member_sockets"],
                             row["redis_memory"] / MIB, row["db_sessions"], row["redis_sessions"],
                             row["messages"]))


def table(samples, names):
    cols = ["t s", "phase", "open"] + ["%s MiB" % n for n in names] + [
        "%s CPU%%" % n for n in names] + ["rkeys", "members", "msockets", "rmem MiB", "db sess", "rds sess",
                                           "messages", "load1"]
    lines = ["  ".join("%9s" % c if i > 1 else ("%6s" % c if i == 0 else "%-9s" % c)
                       for i, c in enumerate(cols))]
    for row in samples:
        cells = ["%6.0f" % row["t"], "%-9s" % row["phase"], "%9d" % row["open"]]
        cells += ["%9.1f" % ((row["rss"][n] or 0) / MIB) for n in names]
        cells += ["%9s" % ("-" if row["cpu"][n] is None else "%.0f" % row["cpu"][n]) for n in names]
        cells += ["%9d" % row["redis_keys"], "%9d" % row["group_members"], "%9d" % row["member_sockets"],
                  "%9.2f" % (row["redis_memory"] / MIB), "%9d" % row["db_sessions"],
                  "%9d" % row["redis_sessions"], "%9d" % row["messages"], "%9.2f" % row["loadavg"]]
        lines.append("  ".join(cells))
    return lines


def chosen_samples(samples):
    """First, reference, middle of the load, last under load, end-load, closed."""
    load_rows = [row for row in samples if row["phase"] in ("reference", "load")]
    picks = [samples[0], sample_named(samples, "reference")]
    if load_rows:
        picks += [load_rows[len(load_rows) // 2], load_rows[-1]]
    picks += [sample_named(samples, "end-load"), samples[-1]]
    seen, out = set(), []
    for row in picks:
        if row is not None and id(row) not in seen:
            seen.add(id(row))
            out.append(row)
    return sorted(out, key=lambda row: row["t"])


def report(result, meta, all_samples=False):
    cfg, counts, a = result.cfg, result.counts, result.audit
    out = []
    w = out.append
    w("Soak: Daphne + %d runworkers + a private redis-server, under churn and steady chat"
      % meta["workers"])
    w("date:      %s UTC" % result.started.strftime("%Y-%m-%d %H:%M:%S"))
    w("python:    %s (%s), %s, %d CPUs" % (platform.python_version(), sys.executable,
                                          platform.platform(), os.cpu_count() or 0))
    w("database:  %s" % meta["database"])
    w("redis:     %s" % meta["redis"])
    if cfg.shipped_budgets:
        w("budgets:   the shipped ones (5 frames/s per socket, 10/s and 5 new sockets/s per address); "
          "the sockets come from %d fake addresses (X-Forwarded-For)" % cfg.addresses)
    else:
        w("budgets:   tests/support's TEST_BUDGETS (%s): every socket comes from 127.0.0.1, and the "
          "shipped 5 new sockets/s per address would refuse the churn"
          % ", ".join("%s=%s" % kv for kv in sorted(TEST_BUDGETS.items())))
    w("load:      %s" % cfg.describe())
    w("command:   %s" % meta["command"])
    if meta.get("tree"):
        w("tree:      %s" % meta["tree"])
    if meta.get("env"):
        w("extra env: %s" % " ".join(meta["env"]))
    w("")
    w("Timeline: ramp-up to %d open sockets %s in %.1f s; load %.0f s; every socket closed at %.0f s; "
      "sessions and Groups settled %.1f s after the last close"
      % (result.peak_open, "complete" if result.ramp_complete else "INCOMPLETE", result.ramp_seconds,
         result.load_seconds, result.phases.get("all closed", 0), result.settle_seconds))
    if cfg.stall_at is not None:
        stall = result.stall
        w("Fault injected: every runworker (pids %s) stopped with SIGSTOP %.0f s into the load, continued %s"
          % (", ".join(str(worker.pid) for worker in stall.workers), cfg.stall_at,
             "%.1f s later" % (stall.resumed_at - stall.stopped_at) if stall.stopped_at and stall.resumed_at
             else "(never stopped: the load ended first)"))
    w("")
    w("Sockets")
    w("  opened                       %7d  (handshakes failed: %d%s)"
      % (counts["opened"], counts["connect_failed"],
         "; " + ", ".join("%s x%d" % kv for kv in result.connect_errors.most_common(5))
         if result.connect_errors else ""))
    w("  closed                       %7d  (by this side: %d, close handshake timed out: %d)"
      % (counts["closed"], counts["closed_by_client"], counts["close_timeouts"]))
    w("  closed by the server, unasked%7d%s" % (
        counts["closed_by_server"],
        "  (" + ", ".join("%s x%d" % kv for kv in result.close_codes.most_common()) + ")"
        if counts["closed_by_server"] else ""))
    for line in result.lost_sockets[:10]:
        w("      " + line)
    w("  pings answered               %7d" % counts["pings"])
    w("")
    w("Messages (client_id unique per message; ack = the echo to its sender)")
    w("  sent                         %7d" % a["sent"])
    w("  acknowledged                 %7d" % a["acked"])
    w("  answered with an error frame %7d%s" % (a["errored"], "  (" + ", ".join(
        "%s x%d" % kv for kv in result.error_codes.most_common()) + ")" if result.error_codes else ""))
    w("  persisted (rows with them)   %7d  (rows in the run's rooms: %d)" % (a["persisted"], a["rows"]))
    w("  lost: acked, not persisted   %7d" % len(a["lost_acked"]))
    w("  lost: sent, never persisted  %7d" % len(a["lost_sent"]))
    w("  persisted, never acked       %7d" % len(a["saved_unacked"]))
    w("  duplicated (saved twice)     %7d" % len(a["duplicated"]))
    w("  rows with unknown client_id  %7d" % len(a["unknown_rows"]))
    w("  echo out of order / overdue  %7d / %d" % (counts["echo_out_of_order"], counts["echo_overdue"]))
    w("  deliveries to bystanders     %7d" % counts["deliveries"])
    if result.latency:
        w("  echo latency                 p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms"
          % tuple(1000 * result.latency[k] for k in ("p50", "p95", "p99", "max")))
    for name in ("lost_acked", "lost_sent", "duplicated"):
        if a[name]:
            w("  %s, first few: %s" % (name, ", ".join(a[name][:5])))
    w("")
    rows = result.samples if all_samples else chosen_samples(result.samples)
    w("Samples (%s of %d, every ~%.0f s; RSS = VmRSS; CPU%% = of one core since the previous sample;"
      % ("all" if all_samples else "first, reference, middle, last under load, end, closed",
         len(result.samples), cfg.interval))
    w("rkeys = Redis DBSIZE, members = Group memberships (asgi::group:* sorted sets), msockets = distinct")
    w("sockets among them, rmem = used_memory;")
    w("db sess = django_session rows, rds sess = channel sessions kept in Redis (%s keys),"
      % REDIS_SESSION_KEYS)
    w("messages = chat_message rows, load1 = the machine's 1-minute load average, other work included)")
    for line in table(rows, result.process_names):
        w("  " + line)
    w("")
    if result.log_errors:
        w("Errors and warnings in the process logs")
        for name, (count, lines) in sorted(result.log_errors.items()):
            w("  %s: %d lines, first:" % (name, count))
            for line in lines:
                w("      " + line[:300])
        w("")
    if result.leftover_sessions:
        w("Sessions left with every socket closed (first %d): data, reply channel, its log lines"
          % len(result.leftover_sessions))
        for item in result.leftover_sessions:
            w("  %s (%s): %s" % (item["key"], item["expires"], item["data"]))
            w("    reply channel: %s" % (item["channel"] or "not found in the logs"))
            for line in item["lines"][:12]:
                w("      " + line)
        w("")
    w("Verdicts (flat RSS: growth from the reference sample, %.0f s into the load, to the end of"
      % cfg.warmup)
    w("the load at most max(%.0f%%, %.0f MiB); counts \"about\" the open sockets: within max(%.0f%%, %d))"
      % (100 * cfg.rss_tolerance, cfg.rss_margin_mib, 100 * cfg.count_tolerance, cfg.count_margin))
    for name, ok, detail in result.verdicts:
        w("  %-4s %-36s %s" % ("ok" if ok else "FAIL", name, detail))
    w("")
    failed = [name for name, ok, _ in result.verdicts if not ok]
    w("Conclusion: %s" % ("every check passed: %d messages sent, %d acknowledged, all persisted "
                          "once; %d sockets came and went; RSS, Redis and the session table flat."
                          % (a["sent"], a["acked"], counts["opened"])
                          if not failed else "FAILED: " + "; ".join(failed) + "."))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

# --gc-every: a sitecustomize put on the stack's PYTHONPATH. In Daphne only,
# a daemon thread runs gc.collect() every CHAT_SOAK_GC_EVERY seconds and
# appends what it found to CHAT_SOAK_GC_LOG: an experiment to tell garbage
# that waits for CPython's rare full collection from memory that is held.
GC_PROBE = """\
import collections, gc, json, os, sys, threading, time

def _collect_forever(every, path):
    while True:
        time.sleep(every)
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what is found, to name its types
        try:
            found = gc.collect()
            kinds = collections.Counter(type(o).__qualname__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            del gc.garbage[:]
        gc.collect()  # now free it
        with open(path, "a") as handle:
            handle.write(json.dumps({"t": time.time(), "unreachable": found,
                                     "types": kinds.most_common(8)}) + "\\n")

if "daphne" in " ".join(sys.argv[:1]) and os.environ.get("CHAT_SOAK_GC_EVERY"):
    threading.Thread(target=_collect_forever, name="soak-gc", daemon=True, args=(
        float(os.environ["CHAT_SOAK_GC_EVERY"]), os.environ["CHAT_SOAK_GC_LOG"])).start()
"""


def gc_probe_environment(workdir, every):
    """The environment overrides that make Daphne collect every `every` seconds."""
    directory = os.path.join(workdir, "gc-probe")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "sitecustomize.py"), "w") as handle:
        handle.write(GC_PROBE)
    return {"PYTHONPATH": directory, "CHAT_SOAK_GC_EVERY": str(every),
            "CHAT_SOAK_GC_LOG": os.path.join(directory, "daphne-gc.jsonl")}


def gc_probe_summary(path, sockets_closed):
    """What Daphne's collections found, as report lines."""
    try:
        with open(path) as handle:
            runs = [json.loads(line) for line in handle if line.strip()]
    except OSError:
        return ["--gc-every: Daphne wrote no collections (%s missing)" % path]
    if not runs:
        return ["--gc-every: Daphne ran no collection"]
    total = collections.Counter()
    for run in runs:
        total.update(dict(run["types"]))
    protocols = total.get("WebSocketProtocol", 0)
    return ["--gc-every: Daphne ran gc.collect() %d times; it found %d unreachable objects in all "
            "(%.0f a run), among them %d WebSocketProtocol (%d sockets were closed); most common: %s"
            % (len(runs), sum(r["unreachable"] for r in runs),
               statistics.mean(r["unreachable"] for r in runs), protocols, sockets_closed,
               ", ".join("%s x%d" % kv for kv in total.most_common(6)))]


def main():
    parser = argparse.ArgumentParser(
        description="A bounded soak of Daphne + 2 runworkers + Redis: sockets with churn and "
                    "steady chat; checks for lost or duplicated messages and for leaks.")
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of churn and chat (default 10)")
    parser.add_argument("--sockets", type=int, default=1000, help="sockets kept open (default 1000)")
    parser.add_argument("--rooms", type=int, default=20, help="rooms they are spread over (default 20)")
    parser.add_argument("--churn", type=float, default=5.0,
                        help="sockets closed and replaced a second (default 5)")
    parser.add_argument("--chat-rate", type=float, default=5.0,
                        help="chat messages sent a second, in all (default 5)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--warmup", type=float,
                        help="seconds of load before the reference sample (default: a tenth of the "
                             "run, at least 30 s, at most half the run)")
    parser.add_argument("--quiet", type=float, default=10.0, help="quiet seconds before the end samples")
    parser.add_argument("--connect-rate", type=float, default=50.0, help="most new sockets a second")
    parser.add_argument("--close-rate", type=float, default=50.0,
                        help="sockets closed a second at the end (default 50; e.g. 100000: all at once)")
    parser.add_argument("--workers", type=int, default=2, help="runworker processes (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="DATABASE_URL of an existing, empty database "
                                               "(default: SQLite in the temporary directory)")
    parser.add_argument("--postgres", action="store_true",
                        help="start a private PostgreSQL (tests/support/postgres.py) and use it")
    parser.add_argument("--shipped-budgets", action="store_true",
                        help="keep the shipped rate limits; sockets come from --addresses fake "
                             "addresses via X-Forwarded-For")
    parser.add_argument("--addresses", type=int, default=1000)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra environment variable for the stack's processes (repeatable), "
                             "e.g. CHANNEL_LAYER_CAPACITY=200")
    parser.add_argument("--stall-workers", metavar="AT:SECONDS",
                        help="fault injection: AT seconds into the load, stop every runworker "
                             "(SIGSTOP) for SECONDS, then continue them")
    parser.add_argument("--gc-every", type=float, metavar="SECONDS",
                        help="experiment: Daphne runs gc.collect() this often (a sitecustomize on "
                             "PYTHONPATH; no project file changes) and the report says what it found")
    parser.add_argument("--all-samples", action="store_true", help="print every sample in the table")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    parser.add_argument("--output", default="",
                        help="also write the report here (e.g. %s); default: stdout only"
                             % os.path.relpath(DEFAULT_OUTPUT, os.getcwd()))
    args = parser.parse_args()
    if args.sockets < 1 or args.rooms < 1 or args.minutes <= 0:
        parser.error("--sockets, --rooms and --minutes must be positive")
    if args.database_url and args.postgres:
        parser.error("--database-url and --postgres exclude each other")
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    stall_at, stall_seconds = None, 0.0
    if args.stall_workers:
        try:
            stall_at, stall_seconds = (float(part) for part in args.stall_workers.split(":"))
        except ValueError:
            parser.error("--stall-workers takes AT:SECONDS, e.g. 45:16")
    duration = args.minutes * 60.0
    cfg = SoakConfig(sockets=args.sockets, rooms=args.rooms, churn=args.churn, chat_rate=args.chat_rate,
                     duration=duration, interval=args.interval,
                     warmup=(args.warmup if args.warmup is not None
                             else min(max(30.0, duration / 10.0), duration / 2.0)),
                     quiet=args.quiet, connect_rate=args.connect_rate, close_rate=args.close_rate,
                     seed=args.seed, stall_at=stall_at, stall_seconds=stall_seconds,
                     shipped_budgets=args.shipped_budgets, addresses=args.addresses)
    if cfg.warmup >= duration:
        parser.error("--warmup must be shorter than the run")
    command = " ".join([os.path.relpath(sys.executable, os.getcwd())] + sys.argv)

    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="chat-soak-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    text = None
    try:
        with _database(args, workdir) as (database_url, database_text):
            env = dict(item.split("=", 1) for item in args.env)
            if args.gc_every:
                env.update(gc_probe_environment(workdir, args.gc_every))
            if database_url is not None:
                env["DATABASE_URL"] = database_url
            print("starting the stack in %s" % workdir, flush=True)
            with ProjectStack(os.path.join(workdir, "stack"), workers=args.workers, presence=False,
                              budgets="shipped" if args.shipped_budgets else "test", env=env) as stack:
                print("redis-server pid %d port %d; daphne pid %d port %d; workers %s"
                      % (stack.redis.pid, stack.redis_port, stack.daphne.pid, stack.http_port,
                         ", ".join("pid %d" % w.pid for w in stack.workers)), flush=True)
                result = run_soak(stack, stack.env["DATABASE_URL"], cfg,
                                  log=lambda line: print(line, flush=True))
                meta = {"workers": args.workers, "command": command, "tree": tree_state(),
                        "env": args.env + (["PYTHONPATH=<gc probe>", "CHAT_SOAK_GC_EVERY=%s" % args.gc_every]
                                           if args.gc_every else []),
                        "database": database_text or "SQLite (%s)" % stack.env["DATABASE_URL"],
                        "redis": "%s, private on 127.0.0.1:%d, no persistence"
                                 % (program_version(["redis-server", "--version"]), stack.redis_port)}
                text = report(result, meta, args.all_samples)
                if args.gc_every:
                    text += "\n".join(gc_probe_summary(env["CHAT_SOAK_GC_LOG"],
                                                       result.counts["closed"])) + "\n"
                if not result.ok:
                    text += "\nProcess logs (tails):\n" + stack.logs(lines=15) + "\n"
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    text += "(whole run: %.0fs)\n" % (time.monotonic() - t0)
    print()
    print(text, end="")
    if args.output:
        write_report(args.output, text)
    return 0 if result.ok else 1


class _database(object):
    """(DATABASE_URL or None for the stack's own SQLite, a description) for a `with` block."""

    def __init__(self, args, workdir):
        self.args, self.workdir, self.context = args, workdir, None

    def __enter__(self):
        if self.args.database_url:
            return self.args.database_url, "%s (given)" % _redact(self.args.database_url)
        if not self.args.postgres:
            return None, None
        from tests.support.postgres import private_postgres
        self.context = private_postgres(os.path.join(self.workdir, "postgres"))
        server = self.context.__enter__()
        url = server.create_database("chat_soak")
        return url, "PostgreSQL, private on 127.0.0.1:%d (fsync off, as in the tests)" % server.port

    def __exit__(self, *exc_info):
        if self.context is not None:
            return self.context.__exit__(*exc_info)
        return False


def _redact(url):
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


if __name__ == "__main__":
    sys.exit(main())
