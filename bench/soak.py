"""
A bounded soak of the worker-mode stack: many sockets for a long while, with
connect/disconnect churn and steady chat, watching for leaks and for lost or
duplicated messages.

    .venv/bin/python bench/soak.py --minutes 10 --sockets 1000 --output bench/results/soak.txt
    .venv/bin/python bench/soak.py --minutes 1 --sockets 200               # smoke check, ~2 min
    .venv/bin/python bench/soak.py --postgres ...       # a private PostgreSQL instead of SQLite
    .venv/bin/python bench/soak.py --commit HEAD ...    # the project as committed, not the working tree

On the harness (bench/harness): the stack is its ProjectStack (deploy/daphne.sh,
--workers x deploy/worker.sh, no runpresence, a private redis-server; stopped by
pid, also on Ctrl-C or SIGTERM), with tests/support's TEST_BUDGETS unless
--shipped-budgets (then --addresses loopback addresses shared by the sockets);
the load is its Churn (harness/churn.py: --sockets open over --rooms rooms,
--churn closed and replaced a second, --chat-rate messages a second, each
socket a Chatter from its own loopback address); every --interval seconds it
samples each process's RSS and CPU (harness/measure.py), Redis keys and memory,
Group members, channel sessions and saved messages (harness/stores.py).

Phases: ramp-up, load (the reference sample after --warmup), drain (the last
echoes), quiet, a sample with the sockets open, every socket closed (at
--close-rate), quiet, settle, the last sample. The report compares the
database with what was sent and acknowledged, and says whether RSS, Redis and
the sessions are flat (the tolerances are printed with the verdicts).

Experiments, each said in the report's header: --stall-workers AT:SECONDS
(every runworker SIGSTOPped AT seconds into the load for SECONDS), --gc-every
SECONDS (Daphne runs gc.collect() that often, from a sitecustomize on the
stack's PYTHONPATH; the report says what it found), --close-rate, --env.
"""
import argparse
import asyncio
import collections
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from bench.harness import deps  # noqa: E402

deps.ensure()

from tests.support.chat_stack import TEST_BUDGETS  # noqa: E402

from bench.harness import inject, provenance  # noqa: E402
from bench.harness.chatter import audit  # noqa: E402
from bench.harness.churn import Churn  # noqa: E402
from bench.harness.measure import cpu_seconds, rss_bytes  # noqa: E402
from bench.harness.stacks import ProjectStack  # noqa: E402
from bench.harness.stores import REDIS_SESSION_KEYS, Stores  # noqa: E402
from bench.results_file import write_report  # noqa: E402

MIB = 1024.0 * 1024.0


class SoakConfig:
    """Everything a soak is told, and the tolerances of its verdicts."""

    def __init__(self, sockets=1000, rooms=20, churn=5.0, chat_rate=5.0, duration=600.0, interval=10.0,
                 warmup=60.0, quiet=10.0, connect_rate=50.0, close_rate=50.0, seed=1, addresses=None,
                 echo_timeout=30.0, ramp_timeout=300.0, drain_timeout=60.0, rss_tolerance=0.10, rss_margin_mib=8.0,
                 count_tolerance=0.02, count_margin=5, redis_key_margin=20, redis_margin_mib=2.0, stall_at=None,
                 stall_seconds=0.0):
        self.__dict__.update(locals())
        del self.__dict__["self"]

    def describe(self):
        return ("%d sockets open in %d rooms; churn %.1f sockets/s closed and replaced; chat %.1f messages/s; "
                "%.0f s of churn and chat; sample every %.0f s; reference sample after %.0f s of load; quiet %.0f s; "
                "connects at most %.0f/s; closed at the end %.0f/s; seed %d"
                % (self.sockets, self.rooms, self.churn, self.chat_rate, self.duration, self.interval, self.warmup,
                   self.quiet, self.connect_rate, self.close_rate, self.seed))


class Sampler:
    """One row of measurements of the running stack (blocking: run it in a thread)."""

    def __init__(self, stack):
        self.processes = [("daphne", stack.daphne)] + [
            ("worker%d" % number, worker) for number, worker in enumerate(stack.workers, 1)] + [("soak", None)]
        self.stores = Stores(stack)
        self.started = time.monotonic()
        self._cpu = {}

    def names(self):
        return [name for name, _ in self.processes]

    def sample(self, phase, load):
        now = time.monotonic()
        row = {"t": now - self.started, "phase": phase, "open": load["open"], "rss": {}, "cpu": {}, "alive": {}}
        for name, process in self.processes:
            pid = os.getpid() if process is None else process.pid
            row["alive"][name] = process is None or process.alive()
            row["rss"][name] = rss_bytes(pid, missing=None)
            cpu, before = cpu_seconds(pid, missing=None), self._cpu.get(name)
            row["cpu"][name] = (None if cpu is None or before is None
                                else 100.0 * (cpu - before[0]) / max(1e-6, now - before[1]))
            self._cpu[name] = (cpu, now)
        with open("/proc/loadavg") as handle:
            row["loadavg"] = float(handle.read().split()[0])  # the whole machine's, shared
        stores = self.stores
        row["redis_keys"], row["redis_memory"] = stores.redis_keys(), stores.redis_memory()
        row["groups"], row["group_members"], row["member_sockets"] = stores.groups()
        row["db_sessions"], row["redis_sessions"] = stores.sessions()
        row["sessions"] = row["db_sessions"] + row["redis_sessions"]
        row["messages"] = stores.count("chat_message")
        return row


class Result:
    """What one soak saw: counts, the audit against the database, samples and verdicts."""


async def run_soak(stack, cfg, log=print):
    """One soak on a running ProjectStack; never raises for what it finds (see result.verdicts)."""
    loop = asyncio.get_running_loop()
    result = Result()
    result.cfg, result.started, result.phases = cfg, datetime.datetime.now(datetime.timezone.utc), {}
    run_id = "%x" % (int(time.time() * 1000) % 0xFFFFFFFF)
    rooms = ["soak-%s-%02d" % (run_id, number) for number in range(cfg.rooms)]
    await loop.run_in_executor(None, stack.create_rooms, rooms)
    sampler = Sampler(stack)
    samples = result.samples = []
    result.process_names = sampler.names()
    churn = Churn(stack, rooms, connect_rate=cfg.connect_rate, close_rate=cfg.close_rate,
                  echo_timeout=cfg.echo_timeout, addresses=cfg.addresses, seed=cfg.seed)
    t0 = time.monotonic()
    load_started = None
    stall = {}

    async def take(phase):
        row = await loop.run_in_executor(None, sampler.sample, phase, churn.snapshot())
        samples.append(row)
        log("  %5.0fs %-9s %s" % (row["t"], phase, short_row(row, sampler.names())))

    async def hold(phase, until, timeout=None):
        """Sample every cfg.interval until until() (or timeout seconds)."""
        started = time.monotonic()
        next_sample = samples[-1]["t"] + sampler.started + cfg.interval if samples else started
        while not until():
            if churn.failure:
                raise RuntimeError("the load failed:\n" + churn.failure)
            now = time.monotonic()
            if timeout is not None and now - started >= timeout:
                return False
            if cfg.stall_at is not None and load_started is not None and "stopped" not in stall \
                    and now - load_started >= cfg.stall_at:
                stall["stopped"] = now
                stall["task"] = loop.run_in_executor(None, _stall, stack.workers, cfg.stall_seconds)
            if now >= next_sample:
                await take(phase)
                next_sample = max(next_sample + cfg.interval, time.monotonic())
            await asyncio.sleep(0.1)
        return True

    def mark(name):
        result.phases[name] = time.monotonic() - t0

    await take("baseline")
    driver = asyncio.ensure_future(churn.run())
    try:
        churn.configure(target=cfg.sockets)
        result.ramp_complete = await hold("ramp-up", lambda: churn.snapshot()["open"] >= cfg.sockets,
                                          cfg.ramp_timeout)
        result.ramp_seconds, result.peak_open = time.monotonic() - t0, churn.snapshot()["open"]
        mark("ramp-up done")
        log("ramp-up: %d sockets open after %.1f s" % (result.peak_open, result.ramp_seconds))
        churn.configure(churn=cfg.churn, chat_rate=cfg.chat_rate)
        load_started = time.monotonic()
        await hold("load", lambda: time.monotonic() - load_started >= cfg.warmup)
        await take("reference")
        await hold("load", lambda: time.monotonic() - load_started >= cfg.duration)
        result.load_seconds = time.monotonic() - load_started
        mark("load done")
        if "task" in stall:
            stall["seconds"] = await stall["task"]
        churn.configure(churn=0.0, chat_rate=0.0, open_new=False)
        await hold("drain", lambda: churn.snapshot()["pending"] == 0 and churn.connecting == 0, cfg.drain_timeout)
        await hold("quiet", lambda: False, cfg.quiet)
        await take("end-load")
        churn.configure(closing_all=True)
        await hold("closing", lambda: not churn.live, 120)
        mark("all closed")
        quiet_started = time.monotonic()
        await hold("quiet", lambda: False, cfg.quiet)
        result.sessions_after_quiet = sum(await loop.run_in_executor(None, sampler.stores.sessions))
        # Sessions and Group members may take a moment longer when the workers are behind.
        await hold("settle", Settled(sampler.stores), 60)
        result.settle_seconds = time.monotonic() - quiet_started
        await take("closed")
    finally:
        churn.stop()
        await driver
        if "task" in stall and "seconds" not in stall:
            stall["seconds"] = await stall["task"]
    result.stall = stall
    result.counts, result.lost_sockets = churn.counts, churn.lost
    crashed = [chatter.crash for chatter in churn.chatters if chatter.crash]
    if crashed or churn.failure:
        raise RuntimeError("the load failed:\n" + (churn.failure or crashed[0]))
    result.error_codes = collections.Counter()
    for chatter in churn.chatters:
        result.error_codes.update({key[6:]: n for key, n in chatter.counters.items() if key.startswith("error ")})
        result.counts["echo out of order"] += chatter.counters["echo out of order"]
        result.counts["deliveries"] += chatter.counters["deliveries"]
    result.connect_errors = collections.Counter()
    for chatter in churn.chatters:
        result.connect_errors.update(chatter.connect_failures)
    rows = await loop.run_in_executor(None, sampler.stores.messages, rooms)
    result.audit = audit(churn.chatters, rows)
    result.overdue = sum(1 for chatter in churn.chatters for item in chatter.items.values()
                         if item.transmissions and (item.acked_at is None
                                                    or item.acked_at - item.sent_at > cfg.echo_timeout))
    result.log_errors = log_errors(stack)
    result.alive = dict(samples[-1]["alive"])
    result.verdicts = verdicts(result)
    result.ok = all(ok for _, ok, _ in result.verdicts)
    return result


def _stall(workers, seconds):
    with inject.frozen(workers):
        time.sleep(seconds)
    return seconds


class Settled:
    """True once channel sessions and Group members are gone (checked every 2 s)."""

    def __init__(self, stores):
        self.stores, self.next = stores, 0

    def __call__(self):
        if time.monotonic() < self.next:
            return False
        self.next = time.monotonic() + 2
        return sum(self.stores.sessions()) == 0 and self.stores.groups()[1] == 0


def log_errors(stack, limit=8):
    """name -> (count, first lines) of each process's tracebacks, errors, warnings, and the pruner's
    note that it dropped Group members (chat/pruning.py), which clean closes should never leave it."""
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


def percentiles(values):
    values = sorted(values)
    if not values:
        return None
    return {q: values[min(len(values) - 1, int(q * len(values)))] for q in (0.5, 0.95, 0.99)} | {1: values[-1]}


def sample_named(samples, phase):
    return next((row for row in samples if row["phase"] == phase), None)


def verdicts(result):
    """(name, ok, detail) for every check, with its tolerance in the detail."""
    cfg, samples, counts, a = result.cfg, result.samples, result.counts, result.audit
    base, ref = sample_named(samples, "baseline"), sample_named(samples, "reference")
    end, closed = sample_named(samples, "end-load"), sample_named(samples, "closed")
    out = []

    def check(name, ok, detail):
        out.append((name, bool(ok), detail))

    check("no acknowledged message lost", not a["lost_acked"], "%d acked but not saved" % len(a["lost_acked"]))
    check("no sent message lost", not a["lost_sent"],
          "%d sent without an error frame but never saved" % len(a["lost_sent"]))
    check("no duplicates", not a["duplicated"], "%d client_ids saved twice" % len(a["duplicated"]))
    check("every echo has the saved id", not a["id_mismatch"],
          "%d echoes with another id than the row" % len(a["id_mismatch"]))
    check("no unexpected server closes", counts["closed_by_server"] == 0,
          "%d sockets closed by the server without being asked" % counts["closed_by_server"])
    check("every handshake accepted", counts["connect_failed"] == 0, "%d handshakes failed" % counts["connect_failed"])
    check("every echo arrived in time", result.overdue == 0,
          "%d messages without an echo within %.0f s" % (result.overdue, cfg.echo_timeout))
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
              "%d channel sessions with every socket closed (baseline %d), at most %d; %d right after the last "
              "close and %.0f s of quiet" % (closed["sessions"], base["sessions"], cfg.count_margin,
                                             result.sessions_after_quiet, cfg.quiet))
        check("Group members back to 0", closed["group_members"] <= cfg.count_margin,
              "%d memberships with every socket closed, at most %d" % (closed["group_members"], cfg.count_margin))
        check("Redis keys back to baseline", closed["redis_keys"] <= base["redis_keys"] + cfg.redis_key_margin,
              "%d keys with every socket closed, baseline %d, at most +%d"
              % (closed["redis_keys"], base["redis_keys"], cfg.redis_key_margin))
    if ref is not None and end is not None:
        check("Redis keys flat under load", end["redis_keys"] <= ref["redis_keys"] + cfg.redis_key_margin,
              "%d after the load, %d at the reference, at most +%d"
              % (end["redis_keys"], ref["redis_keys"], cfg.redis_key_margin))
        for name in result.process_names[:-1]:  # not the soak's own
            growth = None if None in (ref["rss"][name], end["rss"][name]) else end["rss"][name] - ref["rss"][name]
            allowed = max(cfg.rss_tolerance * (ref["rss"][name] or 0), cfg.rss_margin_mib * MIB)
            check("%s RSS flat" % name, growth is not None and growth <= allowed,
                  "%+.1f MiB from the reference (%.1f MiB) to the end of the load, at most +%.1f MiB; fitted "
                  "trend %s" % ((growth or 0) / MIB, (ref["rss"][name] or 0) / MIB, allowed / MIB,
                                trend_text(samples, name)))
        redis_allowed = max(cfg.rss_tolerance * ref["redis_memory"], cfg.redis_margin_mib * MIB)
        growth = end["redis_memory"] - ref["redis_memory"]
        check("Redis used_memory flat", growth <= redis_allowed,
              "%+.2f MiB from the reference (%.2f MiB), at most +%.1f MiB"
              % (growth / MIB, ref["redis_memory"] / MIB, redis_allowed / MIB))
    return out


def trend_text(samples, name):
    """Least-squares slope of RSS from the reference to the end of the load, in MiB per 10 minutes."""
    rows = [(row["t"], row["rss"][name] / MIB) for row in samples
            if row["phase"] in ("reference", "load") and row["rss"].get(name) and row["t"] >= (
                sample_named(samples, "reference") or {"t": 0})["t"]]
    if len(rows) < 3:
        return "n/a (too few samples)"
    mean_t, mean_v = statistics.mean(t for t, _ in rows), statistics.mean(v for _, v in rows)
    var = sum((t - mean_t) ** 2 for t, _ in rows)
    return "n/a" if not var else "%+.2f MiB per 10 min" % (
        600.0 * sum((t - mean_t) * (v - mean_v) for t, v in rows) / var)


def short_row(row, names):
    return ("open %4d | RSS MiB %s | redis keys %d, members %d, %.1f MiB | sessions db %d redis %d | messages %d"
            % (row["open"], " ".join("%s %.0f" % (n, (row["rss"][n] or 0) / MIB) for n in names), row["redis_keys"],
               row["member_sockets"], row["redis_memory"] / MIB, row["db_sessions"], row["redis_sessions"],
               row["messages"]))


def table(samples, names):
    cols = ["t s", "phase", "open"] + ["%s MiB" % n for n in names] + ["%s CPU%%" % n for n in names] + [
        "rkeys", "members", "msockets", "rmem MiB", "db sess", "rds sess", "messages", "load1"]
    lines = ["  ".join("%9s" % c if i > 1 else ("%6s" % c if i == 0 else "%-9s" % c) for i, c in enumerate(cols))]
    for row in samples:
        cells = ["%6.0f" % row["t"], "%-9s" % row["phase"], "%9d" % row["open"]]
        cells += ["%9.1f" % ((row["rss"][n] or 0) / MIB) for n in names]
        cells += ["%9s" % ("-" if row["cpu"][n] is None else "%.0f" % row["cpu"][n]) for n in names]
        cells += ["%9d" % row["redis_keys"], "%9d" % row["group_members"], "%9d" % row["member_sockets"],
                  "%9.2f" % (row["redis_memory"] / MIB), "%9d" % row["db_sessions"], "%9d" % row["redis_sessions"],
                  "%9d" % row["messages"], "%9.2f" % row["loadavg"]]
        lines.append("  ".join(cells))
    return lines


def chosen_samples(samples):
    """First, reference, middle of the load, last under load, end-load, closed."""
    load_rows = [row for row in samples if row["phase"] in ("reference", "load")]
    picks = [samples[0], sample_named(samples, "reference")] + (
        [load_rows[len(load_rows) // 2], load_rows[-1]] if load_rows else []) + [
        sample_named(samples, "end-load"), samples[-1]]
    return sorted({id(row): row for row in picks if row is not None}.values(), key=lambda row: row["t"])


def report(result, meta, all_samples=False):
    cfg, counts, a = result.cfg, result.counts, result.audit
    out = []
    w = out.append
    w("Soak: Daphne + %d runworkers + a private redis-server, under churn and steady chat" % meta["workers"])
    w("date:      %s UTC" % result.started.strftime("%Y-%m-%d %H:%M:%S"))
    w("python:    %s (%s), %s, %d CPUs" % (platform.python_version(), sys.executable, platform.platform(),
                                          os.cpu_count() or 0))
    w("database:  %s" % meta["database"])
    w("redis:     %s" % meta["redis"])
    w("budgets:   %s" % ("the shipped ones; the sockets share %d loopback addresses" % cfg.addresses
                         if meta.get("shipped_budgets") else "tests/support's TEST_BUDGETS (%s)" % ", ".join(
                             "%s=%s" % kv for kv in sorted(TEST_BUDGETS.items()))))
    w("load:      %s" % cfg.describe())
    w("command:   %s" % meta["command"])
    w("code:      %s" % meta["code"])
    if meta.get("env"):
        w("extra env: %s" % " ".join(meta["env"]))
    w("")
    w("Timeline: ramp-up to %d open sockets %s in %.1f s; load %.0f s; every socket closed at %.0f s; sessions and "
      "Groups settled %.1f s after the last close"
      % (result.peak_open, "complete" if result.ramp_complete else "INCOMPLETE", result.ramp_seconds,
         result.load_seconds, result.phases.get("all closed", 0), result.settle_seconds))
    if cfg.stall_at is not None:
        w("Fault injected: every runworker stopped with SIGSTOP %.0f s into the load, continued %s"
          % (cfg.stall_at, "%.1f s later" % result.stall["seconds"] if "seconds" in result.stall
             else "(never stopped: the load ended first)"))
    w("")
    w("Sockets")
    w("  opened                       %7d  (handshakes failed: %d%s)" % (
        counts["opened"], counts["connect_failed"], "; " + ", ".join(
            "%s x%d" % kv for kv in result.connect_errors.most_common(5)) if result.connect_errors else ""))
    w("  closed                       %7d  (by this side: %d, close handshake timed out: %d)"
      % (counts["closed"], counts["closed_by_client"], counts["close_timeouts"]))
    w("  closed by the server, unasked%7d%s" % (counts["closed_by_server"], "  (" + ", ".join(
        "%s x%d" % (key[6:], n) for key, n in sorted(counts.items()) if key.startswith("close ")) + ")"
        if counts["closed_by_server"] else ""))
    for line in result.lost_sockets[:10]:
        w("      " + line)
    w("")
    w("Messages (client_id unique per message; ack = the echo to its sender)")
    w("  sent                         %7d" % a["sent"])
    w("  acknowledged                 %7d" % a["acked"])
    w("  answered with an error frame %7d%s" % (a["errored"], "  (" + ", ".join(
        "%s x%d" % kv for kv in result.error_codes.most_common()) + ")" if result.error_codes else ""))
    w("  persisted (rows with them)   %7d  (rows in the run's rooms: %d)" % (a["saved"], a["rows"]))
    w("  lost: acked, not persisted   %7d" % len(a["lost_acked"]))
    w("  lost: sent, never persisted  %7d" % len(a["lost_sent"]))
    w("  sent, never acked            %7d" % len(a["unacked"]))
    w("  duplicated (saved twice)     %7d" % len(a["duplicated"]))
    w("  rows with unknown client_id  %7d" % a["foreign_rows"])
    w("  echo out of order / overdue  %7d / %d" % (counts["echo out of order"], result.overdue))
    w("  deliveries to bystanders     %7d" % counts["deliveries"])
    latency = percentiles(a["echoes"])
    if latency:
        w("  echo latency                 p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms"
          % tuple(1000 * latency[q] for q in (0.5, 0.95, 0.99, 1)))
    for name in ("lost_acked", "lost_sent", "duplicated"):
        if a[name]:
            w("  %s, first few: %s" % (name, ", ".join(a[name][:5])))
    w("")
    rows = result.samples if all_samples else chosen_samples(result.samples)
    w("Samples (%s of %d, every ~%.0f s; RSS = VmRSS; CPU%% = of one core since the previous sample;"
      % ("all" if all_samples else "first, reference, middle, last under load, end, closed", len(result.samples),
         cfg.interval))
    w("rkeys = Redis DBSIZE, members = Group memberships (asgi::group:* sorted sets), msockets = distinct")
    w("sockets among them, rmem = used_memory;")
    w("db sess = django_session rows, rds sess = channel sessions kept in Redis (%s keys)," % REDIS_SESSION_KEYS)
    w("messages = chat_message rows, load1 = the machine's 1-minute load average, other work included)")
    w("\n".join("  " + line for line in table(rows, result.process_names)))
    w("")
    if result.log_errors:
        w("Errors and warnings in the process logs")
        for name, (count, lines) in sorted(result.log_errors.items()):
            w("  %s: %d lines, first:" % (name, count))
            w("\n".join("      " + line[:300] for line in lines))
        w("")
    w("Verdicts (flat RSS: growth from the reference sample, %.0f s into the load, to the end of" % cfg.warmup)
    w("the load at most max(%.0f%%, %.0f MiB); counts \"about\" the open sockets: within max(%.0f%%, %d))"
      % (100 * cfg.rss_tolerance, cfg.rss_margin_mib, 100 * cfg.count_tolerance, cfg.count_margin))
    for name, ok, detail in result.verdicts:
        w("  %-4s %-36s %s" % ("ok" if ok else "FAIL", name, detail))
    w("")
    failed = [name for name, ok, _ in result.verdicts if not ok]
    w("Conclusion: %s" % ("every check passed: %d messages sent, %d acknowledged, all persisted once; %d sockets "
                          "came and went; RSS, Redis and the session table flat." % (a["sent"], a["acked"],
                                                                                     counts["opened"])
                          if not failed else "FAILED: " + "; ".join(failed) + "."))
    return "\n".join(out) + "\n"


# --gc-every: in Daphne only, a daemon thread runs gc.collect() every CHAT_SOAK_GC_EVERY seconds and
# appends what it found to CHAT_SOAK_GC_LOG: garbage that waits for CPython's rare full collection
# tells itself apart from memory that is held.
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
            handle.write(json.dumps({"unreachable": found, "types": kinds.most_common(8)}) + "\\n")

if "daphne" in " ".join(sys.argv[:1]) and os.environ.get("CHAT_SOAK_GC_EVERY"):
    threading.Thread(target=_collect_forever, name="soak-gc", daemon=True, args=(
        float(os.environ["CHAT_SOAK_GC_EVERY"]), os.environ["CHAT_SOAK_GC_LOG"])).start()
"""


def gc_probe_environment(workdir, every):
    directory = os.path.join(workdir, "gc-probe")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "sitecustomize.py"), "w") as handle:
        handle.write(GC_PROBE)
    return {"PYTHONPATH": directory, "CHAT_SOAK_GC_EVERY": str(every),
            "CHAT_SOAK_GC_LOG": os.path.join(directory, "daphne-gc.jsonl")}


def gc_probe_summary(path, sockets_closed):
    try:
        with open(path) as handle:
            runs = [json.loads(line) for line in handle if line.strip()]
    except OSError:
        runs = []
    if not runs:
        return "--gc-every: Daphne ran no collection\n"
    total = collections.Counter()
    for run in runs:
        total.update(dict(run["types"]))
    return ("--gc-every: Daphne ran gc.collect() %d times; it found %d unreachable objects in all (%.0f a run), "
            "among them %d WebSocketProtocol (%d sockets were closed); most common: %s\n"
            % (len(runs), sum(r["unreachable"] for r in runs), statistics.mean(r["unreachable"] for r in runs),
               total.get("WebSocketProtocol", 0), sockets_closed,
               ", ".join("%s x%d" % kv for kv in total.most_common(6))))


def main():
    parser = argparse.ArgumentParser(description="A bounded soak of Daphne + runworkers + Redis: sockets with "
                                                 "churn and steady chat; lost or duplicated messages, leaks.")
    add = parser.add_argument
    add("--minutes", type=float, default=10.0, help="minutes of churn and chat (default 10)")
    add("--sockets", type=int, default=1000, help="sockets kept open (default 1000)")
    add("--rooms", type=int, default=20, help="rooms they are spread over (default 20)")
    add("--churn", type=float, default=5.0, help="sockets closed and replaced a second (default 5)")
    add("--chat-rate", type=float, default=5.0, help="chat messages sent a second, in all (default 5)")
    add("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    add("--warmup", type=float, help="seconds of load before the reference sample (default: a tenth of the run, "
                                     "at least 30 s, at most half the run)")
    add("--quiet", type=float, default=10.0, help="quiet seconds before the end samples")
    add("--connect-rate", type=float, default=50.0, help="most new sockets a second")
    add("--close-rate", type=float, default=50.0, help="sockets closed a second at the end (100000: all at once)")
    add("--workers", type=int, default=2, help="runworker processes (default 2)")
    add("--seed", type=int, default=1)
    add("--database-url", help="DATABASE_URL of an existing, empty database (default: SQLite in the run directory)")
    add("--postgres", action="store_true", help="a private PostgreSQL (tests/support/postgres.py)")
    add("--shipped-budgets", action="store_true", help="keep the shipped budgets; the sockets share --addresses "
                                                       "loopback addresses")
    add("--addresses", type=int, default=1000)
    add("--env", action="append", default=[], metavar="NAME=VALUE", help="a setting for the stack (repeatable)")
    add("--stall-workers", metavar="AT:SECONDS", help="AT seconds into the load, SIGSTOP every runworker for "
                                                      "SECONDS")
    add("--gc-every", type=float, metavar="SECONDS", help="Daphne runs gc.collect() this often; the report says "
                                                          "what it found")
    add("--commit", help="run the project as committed at this revision (git archive), not the working tree")
    add("--all-samples", action="store_true", help="every sample in the table")
    add("--keep", action="store_true", help="keep the run directory (logs)")
    add("--output", default="", help="also write the report here (e.g. bench/results/soak.txt)")
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
    warmup = args.warmup if args.warmup is not None else min(max(30.0, duration / 10.0), duration / 2.0)
    if warmup >= duration:
        parser.error("--warmup must be shorter than the run")
    cfg = SoakConfig(sockets=args.sockets, rooms=args.rooms, churn=args.churn, chat_rate=args.chat_rate,
                     duration=duration, interval=args.interval, warmup=warmup, quiet=args.quiet,
                     connect_rate=args.connect_rate, close_rate=args.close_rate, seed=args.seed, stall_at=stall_at,
                     stall_seconds=stall_seconds, addresses=args.addresses if args.shipped_budgets else None)
    code = provenance.code_fingerprint()[0]
    if args.commit:
        ProjectStack.commit = code = provenance.resolve_commit(args.commit)
    workdir = tempfile.mkdtemp(prefix="chat-soak-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.monotonic()
    try:
        env = dict(item.split("=", 1) for item in args.env)
        if args.gc_every:
            env.update(gc_probe_environment(workdir, args.gc_every))
        if args.database_url:
            env["DATABASE_URL"] = args.database_url
        print("starting the stack in %s" % workdir, flush=True)
        with ProjectStack(os.path.join(workdir, "stack"), "postgresql" if args.postgres else "sqlite",
                          workers=args.workers, presence=False, env=env,
                          budgets="shipped" if args.shipped_budgets else "test") as stack:
            result = asyncio.run(run_soak(stack, cfg, log=lambda line: print(line, flush=True)))
            url = stack.env["DATABASE_URL"]
            meta = {"workers": args.workers, "code": "git " + code, "shipped_budgets": args.shipped_budgets,
                    "command": " ".join([os.path.relpath(sys.executable, os.getcwd())] + sys.argv),
                    "env": args.env + (["CHAT_SOAK_GC_EVERY=%s" % args.gc_every] if args.gc_every else []),
                    "database": ("SQLite" if url.startswith("sqlite") else "PostgreSQL %s" % (
                        "private, fsync off" if args.postgres else "given: " + _redact(url))),
                    "redis": "%s, private, no persistence" % provenance.program_version(["redis-server", "--version"])}
            text = report(result, meta, args.all_samples)
            if args.gc_every:
                text += gc_probe_summary(env["CHAT_SOAK_GC_LOG"], result.counts["closed"])
            if not result.ok:
                text += "\nProcess logs (tails):\n" + stack.logs(lines=15) + "\n"
    finally:
        if args.keep:
            print("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    text += "(whole run: %.0fs)\n" % (time.monotonic() - t0)
    print("\n" + text, end="")
    if args.output:
        write_report(args.output, text)
    return 0 if result.ok else 1


def _redact(url):
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@")))
    return url


if __name__ == "__main__":
    sys.exit(main())
