"""
The same chat load against four layouts of 4 runworkers, in one run: how
to split workers between the socket pool and the message pool (README,
"Worker pools").

    .venv/bin/python bench/pools.py                  # about 11 minutes; writes bench/results/pools.txt
    .venv/bin/python bench/pools.py --quick --output ''     # smoke check, about 3 minutes
    .venv/bin/python bench/pools.py --postgres       # a private PostgreSQL instead of SQLite

Layouts (same total of 4 workers): a) 4 serving every channel; b) 2 socket
(--exclude-channels=chat.messages) + 2 message (--only-channels=chat.messages);
c) 3 socket + 1 message; d) 1 socket + 3 message. Each run starts a fresh
tests/support/processes.py chat_stack (private redis-server on a free port,
Daphne as deploy/daphne.sh runs it, chat_stack's test budgets, since all the
load comes from 127.0.0.1) and stops it by pid. Runs are interleaved,
a b c d a b c d, so drift on the shared machine falls on every layout.

The load, from this process (one selector loop, one thread): --sockets
sockets over --rooms rooms (each room made by GET /<label>/ first), the
first --senders of each room send. A warm-up, then one step per --rates
value: that many messages a second in all, open loop (evenly spaced, round
robin over the senders, each with a new client_id), for --step seconds;
then sending stops until every echo is in (at most --drain seconds).
Per step: messages saved a second while sending (save timestamps from the
echoes), echo latency to the sender, delivery latency to the room's other
sockets, peak LLEN of asgi:chat.messages, asgi:websocket.receive and
Daphne's process channel (sampled every 0.1 s), CPU of each pool. Per run:
every client_id saved exactly once (read from the database), echoes and
deliveries missing, sends asgi_redis refused as ChannelFull (its statistics
keys), error lines in the logs, and which worker ran what
(ChatStack.dispatch_count).
"""
import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import platform
import selectors
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import redis  # noqa: E402
import websocket  # noqa: E402

from tests.support.processes import chat_stack  # noqa: E402

from bench.results_file import write_report  # noqa: E402

DEFAULT_OUTPUT = os.path.join(HERE, "results", "pools.txt")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SOCKET_POOL = "--exclude-channels=chat.messages"
MESSAGE_POOL = "--only-channels=chat.messages"
BACKLOGS = ("asgi:chat.messages", "asgi:websocket.receive")


class Layout(object):
    def __init__(self, key, shared, socket, message):
        self.key, self.shared, self.socket, self.message = key, shared, socket, message

    @property
    def name(self):
        return "%d shared" % self.shared if self.shared else "%ds+%dm" % (self.socket, self.message)

    def describe(self):
        if self.shared:
            return "runworker x%d, every channel" % self.shared
        return "runworker %s x%d + runworker %s x%d" % (SOCKET_POOL, self.socket, MESSAGE_POOL, self.message)


LAYOUTS = [Layout("a", 4, 0, 0), Layout("b", 0, 2, 2), Layout("c", 0, 3, 1), Layout("d", 0, 1, 3)]


class started_layout(object):
    """A fresh chat_stack with the layout's workers; yields (stack, {pool: [workers]})."""

    def __init__(self, workdir, layout, env):
        first = layout.shared or layout.socket  # Daphne's readiness check needs a worker for pages
        self.layout = layout
        self.context = chat_stack(workdir, workers=first, worker_args=[] if layout.shared else [SOCKET_POOL], **env)

    def __enter__(self):
        stack = self.context.__enter__()
        try:
            pools = {"all" if self.layout.shared else "socket": list(stack.workers)}
            if self.layout.message:
                pools["message"] = [stack.start_worker(args=[MESSAGE_POOL]) for _ in range(self.layout.message)]
        except BaseException:
            self.context.__exit__(*sys.exc_info())
            raise
        return stack, pools

    def __exit__(self, *exc_info):
        return self.context.__exit__(*exc_info)


# ---------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------

class Step(object):
    """What one step of offered load measured."""

    def __init__(self, rate, seconds):
        self.rate, self.seconds = rate, seconds
        self.client_ids = []
        self.echo = []          # seconds from send to the sender's echo
        self.delivery = []      # seconds from send to each other socket of the room
        self.saved_at = []      # wall time each message was saved (the echo's timestamp)
        self.window = None      # wall time (first send, last send)
        self.send_lag = 0.0     # most seconds a send went out after its schedule
        self.drained_after = None
        self.backlog_peak = {}
        self.cpu = {}           # pool -> % of one core while sending

    def saved_per_second(self):
        start, end = self.window
        return sum(1 for t in self.saved_at if start <= t <= end) / max(1e-6, end - start)

    def offered(self):
        return len(self.client_ids) / max(1e-6, self.window[1] - self.window[0])


class Load(object):
    """Sockets in rooms, a few of them senders; paced sends, every frame read."""

    def __init__(self, stack, labels, sockets, senders, tag):
        self.stack, self.labels, self.tag = stack, labels, tag
        self.selector = selectors.DefaultSelector()
        self.rooms = {}                           # socket number -> room label
        self.members = collections.Counter()      # room label -> sockets
        self.sockets = []
        self.senders = []
        self.sent = {}                            # client_id -> (socket number, monotonic time, Step)
        self.echoed = set()
        self.deliveries = collections.Counter()   # client_id -> other sockets it reached
        self.errors = collections.Counter()
        self.out_of_order = 0
        self.closed = 0
        self.pending = collections.defaultdict(collections.deque)  # sender -> client_ids awaiting echo
        self._number = 0
        for number in range(sockets):
            self.rooms[number] = labels[number % len(labels)]
            self.members[self.rooms[number]] += 1
        self._sender_numbers = [n for n in range(sockets) if n // len(labels) < senders]

    def open(self, threads=8):
        def connect(number):
            url = self.stack.ws_url("/chat/%s/" % urllib.parse.quote(self.rooms[number]))
            return websocket.create_connection(url, timeout=20, skip_utf8_validation=True)

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            self.sockets = list(pool.map(connect, range(len(self.rooms))))
        for number, ws in enumerate(self.sockets):
            ws.settimeout(5)
            self.selector.register(ws.sock, selectors.EVENT_READ, number)
        self.senders = [(n, self.sockets[n]) for n in self._sender_numbers]

    def close(self):
        for ws in self.sockets:
            try:
                ws.close(timeout=1)
            except Exception:
                pass
        self.selector.close()

    def drive(self, step, cpu):
        """Send step.rate messages a second for step.seconds, reading all the while."""
        interval = 1.0 / step.rate
        count = int(round(step.rate * step.seconds))
        cpu.start()
        start_wall, start = time.time(), time.monotonic()
        for k in range(count):
            due = start + k * interval
            while True:
                now = time.monotonic()
                if now >= due:
                    break
                self._read(min(due - now, 0.02))
            step.send_lag = max(step.send_lag, now - due)
            number, ws = self.senders[k % len(self.senders)]
            self._send(number, ws, step, now)
        step.window = (start_wall, start_wall + (time.monotonic() - start))
        step.cpu = cpu.stop()

    def drain(self, step, timeout):
        """Read until every echo of `step` is in (or `timeout`); then a short settle."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if len(step.echo) == len(step.client_ids):
                step.drained_after = time.monotonic() - start
                break
            self._read(0.05)
        self.settle(0.5)

    def settle(self, seconds):
        """Read whatever arrives for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._read(0.05)

    def _send(self, number, ws, step, now):
        self._number += 1
        client_id = "%s-%d" % (self.tag, self._number)
        self.sent[client_id] = (number, now, step)
        step.client_ids.append(client_id)
        self.pending[number].append(client_id)
        ws.send(json.dumps({"handle": "sender%d" % number, "client_id": client_id,
                            "message": "pools benchmark message %d to %s" % (self._number, self.rooms[number])}))

    def _read(self, timeout):
        for key, _ in self.selector.select(timeout=max(0.0, timeout)):
            number = key.data
            try:
                opcode, frame = self.sockets[number].recv_data_frame(True)
            except Exception:
                self.closed += 1
                self.selector.unregister(key.fileobj)
                continue
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue
            self._on_frame(number, json.loads(frame.data), time.monotonic())

    def _on_frame(self, number, message, now):
        kind, client_id = message.get("type"), message.get("client_id")
        if kind == "error":
            self.errors[message.get("code")] += 1
            return
        if kind != "message" or client_id not in self.sent:
            return
        sender, sent_at, step = self.sent[client_id]
        if number != sender:
            self.deliveries[client_id] += 1
            step.delivery.append(now - sent_at)
        elif client_id not in self.echoed:
            self.echoed.add(client_id)
            queue = self.pending[number]
            if queue and queue[0] != client_id:
                self.out_of_order += 1
            try:
                queue.remove(client_id)
            except ValueError:
                pass
            step.echo.append(now - sent_at)
            step.saved_at.append(datetime.datetime.fromisoformat(message["timestamp"]).timestamp())


# ---------------------------------------------------------------------------
# Watching the stack: backlogs, CPU, the database
# ---------------------------------------------------------------------------

class BacklogSampler(threading.Thread):
    """LLEN of the two backlogs every `interval` seconds, on the stack's private Redis."""

    def __init__(self, port, interval=0.1):
        super().__init__(name="backlogs", daemon=True)
        self.client = redis.StrictRedis(host="127.0.0.1", port=port, socket_timeout=10)
        self.interval, self.samples, self.done = interval, [], threading.Event()
        self.keys = list(BACKLOGS)

    def add_daphne_channel(self):
        """Also sample Daphne's process channel (where every frame to its sockets waits):
        asgi_redis keeps "daphne.response.<prefix>!<socket>" under "asgi:daphne.response.<prefix>!"."""
        for group in self.client.scan_iter(match="asgi::group:chat*", count=1000):
            for member in self.client.zrange(group, 0, 0):
                member = member.decode()
                self.keys.append("asgi:" + member[:member.index("!") + 1])
                return

    def channel_full(self):
        """channel -> times asgi_redis refused a send to it as full (its statistics keys)."""
        found = {}
        for key in self.client.scan_iter(match="asgi-meta:*:channel_full_count", count=1000):
            channel = key.decode()[len("asgi-meta:"):-len(":channel_full_count")]
            if channel != "#global#":
                found[channel] = int(self.client.get(key) or 0)
        return found

    def run(self):
        while not self.done.is_set():
            pipe = self.client.pipeline(transaction=False)
            for key in self.keys:
                pipe.llen(key)
            try:
                self.samples.append((time.monotonic(),) + tuple(pipe.execute()))
            except redis.RedisError:
                pass
            self.done.wait(self.interval)

    def peak(self, since):
        rows = [row for row in self.samples if row[0] >= since]
        return {("daphne" if key.startswith("asgi:daphne") else key): max([row[i + 1] for row in rows] or [0])
                for i, key in enumerate(self.keys)}

    def stop(self):
        self.done.set()
        self.join(10)


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(CLK_TCK)
    except (OSError, IndexError, ValueError):
        return 0.0


class PoolCpu(object):
    """CPU of each pool (and of Daphne, Redis and this load) between start() and stop()."""

    def __init__(self, stack, pools):
        self.groups = dict((pool, [w.pid for w in workers]) for pool, workers in pools.items())
        self.groups.update(daphne=[stack.daphne.pid], redis=[stack.redis.pid], load=[os.getpid()])

    def _read(self):
        return time.monotonic(), dict((g, sum(cpu_seconds(p) for p in pids)) for g, pids in self.groups.items())

    def start(self):
        self._start = self._read()

    def stop(self):
        (t0, before), (t1, after) = self._start, self._read()
        return dict((g, 100.0 * (after[g] - before[g]) / max(1e-6, t1 - t0)) for g in after)


def saved_rows(database_url):
    """client_id -> [wall time saved, ...] in chat_message, read-only."""
    sql = "SELECT client_id, timestamp FROM chat_message WHERE client_id IS NOT NULL"
    if database_url.startswith("sqlite:///"):
        path = database_url[len("sqlite:///"):]
        connection = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path), uri=True, timeout=30)
    else:
        import psycopg2
        connection = psycopg2.connect(database_url, connect_timeout=10)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        rows = collections.defaultdict(list)
        for client_id, stamp in cursor.fetchall():
            if isinstance(stamp, str):  # SQLite: naive UTC text
                stamp = datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.timezone.utc)
            rows[client_id].append(stamp.timestamp())
        return rows
    finally:
        connection.close()


PROBLEM_WORDS = ("Traceback", "ERROR", "Error", "CRITICAL")


def log_problems(stack):
    """name -> (lines with an error word, the first of them) in each process's log."""
    found = {}
    for process in stack.processes():
        lines = [line for line in process.log_text().splitlines() if any(w in line for w in PROBLEM_WORDS)]
        if lines:
            found[process.name] = (len(lines), lines[0][:200])
    return found


# ---------------------------------------------------------------------------
# One run: one layout, a fresh stack
# ---------------------------------------------------------------------------

class Run(object):
    def __init__(self, layout, repeat):
        self.layout, self.repeat = layout, repeat
        self.steps = {}
        self.checks = {}
        self.dispatches = []
        self.seconds = 0.0


def run_layout(layout, repeat, cfg, workdir, env):
    run = Run(layout, repeat)
    started = time.monotonic()
    tag = "p%s%d" % (layout.key, repeat)
    with started_layout(os.path.join(workdir, tag), layout, env) as (stack, pools):
        labels = ["pools-%s-%d" % (tag, i) for i in range(cfg.rooms)]
        for label in labels:
            with urllib.request.urlopen(stack.url("/%s/" % label), timeout=30) as answer:
                answer.read()
        load = Load(stack, labels, cfg.sockets, cfg.senders, tag)
        sampler = BacklogSampler(stack.redis_port)
        cpu = PoolCpu(stack, pools)
        try:
            load.open()
            sampler.add_daphne_channel()
            sampler.start()
            warmup = Step(cfg.warmup_rate, cfg.warmup)
            load.drive(warmup, cpu)
            load.drain(warmup, cfg.drain)
            for rate in cfg.rates:
                step = Step(rate, cfg.step)
                since = time.monotonic()
                load.drive(step, cpu)
                load.drain(step, cfg.drain)
                step.backlog_peak = sampler.peak(since)
                run.steps[rate] = step
            load.settle(2.0)  # late deliveries of every step
        finally:
            sampler.stop()
            load.close()
        run.channel_full = sampler.channel_full()
        rows = saved_rows(stack.env["DATABASE_URL"])
        saved = dict((c, len(stamps)) for c, stamps in rows.items())
        expected_deliveries = sum(load.members[load.rooms[load.sent[c][0]]] - 1 for c in load.sent)
        run.checks = collections.OrderedDict([
            ("sent", len(load.sent)),
            ("saved once", sum(1 for c in load.sent if saved.get(c) == 1)),
            ("lost", sum(1 for c in load.sent if c not in saved)),
            ("duplicated", sum(1 for c in load.sent if saved.get(c, 0) > 1)),
            ("unknown saved", sum(1 for c in saved if c not in load.sent)),
            ("echo missing", len(load.sent) - len(load.echoed)),
            ("deliveries missing", expected_deliveries - sum(load.deliveries.values())),
            ("echo out of order", load.out_of_order),
            ("error frames", sum(load.errors.values())),
            ("sockets closed", load.closed),
        ])
        run.errors = dict(load.errors)
        run.unechoed = []  # (client_id, seconds from its step's last send to its save, or None)
        for client_id in load.sent:
            if client_id not in load.echoed:
                step = load.sent[client_id][2]
                stamps = rows.get(client_id)
                run.unechoed.append((client_id, stamps[0] - step.window[1] if stamps else None))
        run.log_problems = log_problems(stack)
        for pool, workers in sorted(pools.items()):
            for worker in workers:
                run.dispatches.append("%s %s ran %d receive, %d message" % (
                    pool, worker.name, stack.dispatch_count(worker, "websocket.receive"),
                    stack.dispatch_count(worker, "chat.messages")))
    run.seconds = time.monotonic() - started
    return run


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


METRICS = [  # (column, value of a Step, format)
    ("saved/s", lambda s: s.saved_per_second(), "%.1f"),
    ("echo p50 ms", lambda s: 1000 * percentile(s.echo, 0.50), "%.0f"),
    ("echo p95 ms", lambda s: 1000 * percentile(s.echo, 0.95), "%.0f"),
    ("echo max ms", lambda s: 1000 * max(s.echo or [float("nan")]), "%.0f"),
    ("dlv p50 ms", lambda s: 1000 * percentile(s.delivery, 0.50), "%.0f"),
    ("dlv p95 ms", lambda s: 1000 * percentile(s.delivery, 0.95), "%.0f"),
    ("peak msgs", lambda s: s.backlog_peak.get("asgi:chat.messages", 0), "%.0f"),
    ("peak recv", lambda s: s.backlog_peak.get("asgi:websocket.receive", 0), "%.0f"),
    ("peak out", lambda s: s.backlog_peak.get("daphne", 0), "%.0f"),
    ("drain s", lambda s: float("nan") if s.drained_after is None else s.drained_after, "%.1f"),
]
RATIO_OF = ("saved/s", "echo p95 ms", "dlv p95 ms")


def summarize(runs, rate, metric):
    values = [metric(run.steps[rate]) for run in runs]
    return statistics.median(values), min(values), max(values)


def cell(fmt, summary, many):
    median, low, high = summary
    text = fmt % median
    return text + (" [%s-%s]" % (fmt % low, fmt % high) if many else "")


def report(cfg, results, meta):
    out = []
    w = out.append
    w("Worker pools: the same load on four layouts of 4 runworkers (bench/pools.py)")
    w("%s UTC; %s; %d CPUs; Python %s; %s" % (
        datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), platform.platform(), os.cpu_count(),
        platform.python_version(), meta["redis"]))
    w("database: %s; tree: %s" % (meta["database"], meta["tree"]))
    w("command: %s" % meta["command"])
    w("load: %d sockets in %d rooms (%d a room), the first %d of each room send (%d senders); warm-up "
      "%.0f s at %g msg/s; steps of %.0f s at %s msg/s in all, open loop, each drained (at most %.0f s) "
      "before the next; chat_stack's test budgets" % (
          cfg.sockets, cfg.rooms, cfg.sockets // cfg.rooms, cfg.senders, cfg.senders * cfg.rooms,
          cfg.warmup, cfg.warmup_rate, cfg.step, "/".join("%g" % r for r in cfg.rates), cfg.drain))
    w("runs: %d of each layout, interleaved (%s), a fresh stack each" % (
        cfg.repeat, " ".join(layout.key for layout in cfg.layouts) + (" ..." if cfg.repeat > 1 else "")))
    for layout in cfg.layouts:
        w("  %s  %-9s %s" % (layout.key, layout.name, layout.describe()))
    w("")
    many = cfg.repeat > 1
    w("Median of %d run%s%s. saved/s: messages saved a second while sending (save time from the echo);"
      % (cfg.repeat, "s" if many else "", " [min-max]" if many else ""))
    w("echo: send to the sender's echo; dlv: send to each other socket of the room; peak msgs / recv / out:")
    w("highest LLEN asgi:chat.messages / asgi:websocket.receive / Daphne's process channel (the frames to its")
    w("sockets), sampled every 0.1 s; x %s: this layout's median" % cfg.base)
    w("over layout %s's. drain: seconds after the step's last send until its last echo. CPU: %% of one core while"
      % cfg.base)
    w("sending, socket pool / message pool (a: all workers), Daphne, Redis, this load generator.")
    header = "%5s  %-10s" % ("msg/s", "layout") + "".join(
        "  %-*s" % (18 if many else 7, name) + ("  %5s" % ("x " + cfg.base) if name in RATIO_OF else "")
        for name, _, _ in METRICS) + "  cpu sock/msg/daph/redis/load"
    w(header)
    w("-" * len(header))
    for rate in cfg.rates:
        base = dict((name, summarize(results[cfg.base], rate, metric)[0]) for name, metric, _ in METRICS)
        for layout in cfg.layouts:
            runs = results[layout.key]
            line = "%5g  %s %-8s" % (rate, layout.key, layout.name)
            for name, metric, fmt in METRICS:
                summary = summarize(runs, rate, metric)
                line += "  %-*s" % (18 if many else 7, cell(fmt, summary, many))
                if name in RATIO_OF:
                    line += "  %5.2f" % (summary[0] / base[name] if base[name] else float("nan"))
            cpu = dict((g, statistics.median(r.steps[rate].cpu.get(g, 0.0) for r in runs))
                       for g in ("all", "socket", "message", "daphne", "redis", "load"))
            line += "  %s/%.0f/%.0f/%.0f" % (
                "%.0f (all)" % cpu["all"] if layout.shared else "%.0f/%.0f" % (cpu["socket"], cpu["message"]),
                cpu["daphne"], cpu["redis"], cpu["load"])
            w(line)
        w("")
    w("Checks per run (in run order): every client_id sent is in chat_message exactly once")
    failed = []
    for run in sorted((r for rs in results.values() for r in rs), key=lambda r: r.order):
        checks = run.checks
        bad = [k for k in ("lost", "duplicated", "unknown saved", "echo missing", "deliveries missing",
                           "echo out of order", "sockets closed") if checks[k]]
        if bad:
            failed.append("%s run %d: %s" % (run.layout.key, run.repeat, ", ".join("%s %d" % (k, checks[k]) for k in bad)))
        w("  %s run %d (%.0f s): %s%s" % (
            run.layout.key, run.repeat, run.seconds, ", ".join("%s %d" % kv for kv in checks.items()),
            " (%s)" % ", ".join("%s x%d" % kv for kv in sorted(run.errors.items())) if run.errors else ""))
        w("      " + "; ".join(run.dispatches))
        lag = max(s.send_lag for s in run.steps.values())
        if lag > 0.1:
            w("      the load generator fell behind its schedule by up to %.2f s" % lag)
        if run.unechoed:
            late = sorted(t for _, t in run.unechoed if t is not None)
            w("      %d saved without an echo to the sender%s; e.g. %s" % (
                len(run.unechoed),
                ", saved %.1f to %.1f s after their step's last send" % (late[0], late[-1]) if late else "",
                ", ".join(c for c, _ in run.unechoed[:3])))
        if run.channel_full:
            w("      asgi_redis refused sends as ChannelFull (dropped silently by Group sends): %s" % ", ".join(
                "%s x%d" % kv for kv in sorted(run.channel_full.items())))
        for name, (count, first) in sorted(run.log_problems.items()):
            w("      %s log: %d lines with an error word, first: %s" % (name, count, first))
        undrained = [("%g" % rate) for rate, s in sorted(run.steps.items()) if s.drained_after is None]
        if undrained:
            w("      not every echo in within %.0f s after the step at %s msg/s" % (cfg.drain, ", ".join(undrained)))
    w("")
    w("Conclusion: %s" % conclusion(cfg, results, failed))
    return "\n".join(out) + "\n"


def conclusion(cfg, results, failed):
    top = cfg.rates[-1]
    parts = []
    for layout in cfg.layouts[1:]:
        saved = summarize(results[layout.key], top, METRICS[0][1])
        base = summarize(results[cfg.base], top, METRICS[0][1])
        p95 = summarize(results[layout.key], top, METRICS[2][1])
        base95 = summarize(results[cfg.base], top, METRICS[2][1])
        overlap = saved[1] <= base[2] and base[1] <= saved[2]
        parts.append("%s (%s) %.2fx the saves/s of %s%s, echo p95 %.2fx" % (
            layout.key, layout.name, saved[0] / base[0], cfg.base, " (ranges overlap)" if overlap and cfg.repeat > 1 else "",
            p95[0] / base95[0]))
    text = "at %g msg/s offered, layout %s saved %.1f/s%s." % (
        top, cfg.base, summarize(results[cfg.base], top, METRICS[0][1])[0], "".join("; " + p for p in parts))
    out = max(summarize(results[layout.key], top, METRICS[8][1])[0] for layout in cfg.layouts)
    full = sum(sum(run.channel_full.values()) for runs in results.values() for run in runs)
    text += (" At %g msg/s Daphne's process channel peaked at up to %.0f frames (median of a layout's runs): "
             "there the echo and delivery times are mostly Daphne's fan-out backlog, not the workers'." % (top, out))
    if full:
        text += (" %d sends were refused as ChannelFull in all (Group sends drop them silently: saved "
                 "messages whose echo and deliveries never came)." % full)
    if failed:
        text += " CHECKS FAILED: " + "; ".join(failed) + "."
    else:
        text += " Every run saved every client_id exactly once, with every echo and delivery."
    return text


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

def tree_state():
    """The commit and the number of uncommitted paths (read-only git calls, as soak.py)."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return ("git %s, %s" % (head, "%d uncommitted paths" % len(dirty) if dirty else "clean")) if head else "not a git checkout"


def redis_version():
    done = subprocess.run(["redis-server", "--version"], stdout=subprocess.PIPE, text=True)
    return done.stdout.split(" sha=")[0].strip()


def main():
    parser = argparse.ArgumentParser(description="The same chat load on four layouts of 4 runworkers: "
                                                 "shared, and socket/message pools 2+2, 3+1, 1+3.")
    parser.add_argument("--repeat", type=int, help="runs of each layout, interleaved (default 2; --quick 1)")
    parser.add_argument("--rates", help="messages a second in all, one step each (default 20,50,100; --quick 20,100)")
    parser.add_argument("--step", type=float, help="seconds of sending per step (default 15; --quick 10)")
    parser.add_argument("--layouts", default="abcd",
                        help="which layouts to run (default abcd); ratios are to the first of them")
    parser.add_argument("--sockets", type=int, default=200, help="sockets open (default 200)")
    parser.add_argument("--rooms", type=int, default=10, help="rooms they are spread over (default 10)")
    parser.add_argument("--senders", type=int, default=3, help="sending sockets per room (default 3)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up at --warmup-rate (default 5)")
    parser.add_argument("--warmup-rate", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=30.0, help="most seconds to wait for a step's echoes")
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL (tests/support/postgres.py)")
    parser.add_argument("--quick", action="store_true", help="one run each, two short steps: about 3 minutes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (every log)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help="write the report here (default %s; '' writes nothing)" % os.path.relpath(DEFAULT_OUTPUT))
    cfg = parser.parse_args()
    cfg.repeat = cfg.repeat or (1 if cfg.quick else 2)
    cfg.rates = [float(r) for r in (cfg.rates or ("20,100" if cfg.quick else "20,50,100")).split(",")]
    cfg.step = cfg.step or (10.0 if cfg.quick else 15.0)
    cfg.layouts = [layout for layout in LAYOUTS if layout.key in cfg.layouts]
    cfg.base = cfg.layouts[0].key if cfg.layouts else None
    if not cfg.layouts or cfg.senders * cfg.rooms > cfg.sockets or cfg.repeat < 1 or min(cfg.rates) <= 0:
        parser.error("need a layout out of abcd, --senders x --rooms <= --sockets, --repeat >= 1 and positive --rates")
    command = " ".join([os.path.relpath(sys.executable)] + sys.argv)

    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="chat-pools-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = dict((layout.key, []) for layout in cfg.layouts)
    try:
        with _database(cfg.postgres, workdir) as (databases, database_text):
            order = 0
            for repeat in range(1, cfg.repeat + 1):
                for layout in cfg.layouts:
                    env = {"DATABASE_URL": databases("pools_%s%d" % (layout.key, repeat))} if databases else {}
                    print("run %d of %d: layout %s (%s)" % (order + 1, cfg.repeat * len(cfg.layouts), layout.key,
                                                             layout.describe()), flush=True)
                    run = run_layout(layout, repeat, cfg, workdir, env)
                    run.order = order
                    order += 1
                    results[layout.key].append(run)
                    top = run.steps[cfg.rates[-1]]
                    print("  %.0f s; at %g msg/s: saved %.1f/s, echo p95 %.0f ms, peak backlogs %s; %s" % (
                        run.seconds, top.rate, top.saved_per_second(), 1000 * percentile(top.echo, 0.95),
                        top.backlog_peak, ", ".join("%s %d" % kv for kv in run.checks.items())), flush=True)
        meta = {"command": command, "tree": tree_state(), "redis": redis_version(),
                "database": database_text or "SQLite in the temporary directory (chat_stack's default)"}
        text = report(cfg, results, meta)
    finally:
        if cfg.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    text += "(whole run: %.0f s)\n" % (time.monotonic() - t0)
    print()
    print(text, end="")
    if cfg.output:
        write_report(cfg.output, text)
    return 0


class _database(object):
    """(a function database name -> URL, or None for SQLite; a description) for a `with` block."""

    def __init__(self, postgres, workdir):
        self.postgres, self.workdir, self.context = postgres, workdir, None

    def __enter__(self):
        if not self.postgres:
            return None, None
        from tests.support.postgres import private_postgres
        self.context = private_postgres(os.path.join(self.workdir, "postgres"))
        server = self.context.__enter__()
        return server.create_database, "PostgreSQL, private on 127.0.0.1:%d (fsync off, as in the tests)" % server.port

    def __exit__(self, *exc_info):
        if self.context is not None:
            return self.context.__exit__(*exc_info)
        return False


if __name__ == "__main__":
    sys.exit(main())
