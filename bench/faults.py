"""
What each fault costs the people in a room: lost, duplicated and late
messages, sockets closed under them, and how long until everyone chats
again. The figures behind docs/reliability.md.

    .venv/bin/python bench/faults.py --database postgresql --repeat 3 --output bench/results/faults.txt
    .venv/bin/python bench/faults.py                                  # SQLite: no postgres-restart
    .venv/bin/python bench/faults.py --scenarios worker-kill --repeat 1 --output ''   # one scenario
    .venv/bin/python bench/faults.py --commit HEAD ...   # the project as committed, not the working tree

On the harness (bench/harness): for every scenario a fresh ProjectStack as it
ships (deploy/daphne.sh with the shipped budgets, WORKER_PROCESSES x
deploy/worker.sh -v 2, deploy/presence.sh, a private redis-server, SQLite or
a private PostgreSQL; everything stopped by pid, also on errors, Ctrl-C or
SIGTERM); --clients Chatters in one room (harness/chatter.py: docs/protocol.md's
client, each from its own loopback address, a message every --interval s
+-20% with a new client_id; no echo in --echo-timeout s: reconnect and resend;
holes filled over HTTP after --gap-patience s); the faults of harness/inject.py.

Each scenario runs --repeat times: every chatter has an echo, --warmup s of
chat, the fault (in a thread, while the chatters go on), chat until every
chatter has the echo of a message typed after the fault and at least --after s
passed (at most --max-after), --drain s without typing for what is still
unanswered, a short settle; then the room's rows against what the chatters
sent, saw and hold.

The report: a table (one row per scenario and repeat), what the chatters did
per repeat, "Findings" (costs beyond the fault) and "Defects" (an acked
message lost, a sent one never saved, a client_id saved twice, a message held
twice, a chatter closed by a fault that should not close it, a chatter that
never recovered), with the command that reproduces one. A run with defects
keeps its directory (as --keep does): the process logs and per repeat
trace-<scenario>-<rep>.txt, every chatter's socket events in seconds from the
fault. Exit status 1 on defects.
"""
import argparse
import asyncio
import collections
import datetime
import os
import platform
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from bench.harness import deps  # noqa: E402

deps.ensure()

from bench.harness import inject, provenance  # noqa: E402
from bench.harness.chatter import BACKOFF_FIRST, BACKOFF_MAX, PENDING_CAP, Chatter, audit  # noqa: E402
from bench.harness.measure import cpu_seconds  # noqa: E402
from bench.harness.stacks import ProjectStack, postgres_version  # noqa: E402
from bench.harness.stores import Stores  # noqa: E402
from bench.results_file import write_report  # noqa: E402

SETTLE = 3.0             # after the drain: late broadcasts and hole fills
BETWEEN_REPEATS = 3.0
mono = time.monotonic


def flood(stack, rep, cfg, label):
    before = cpu_seconds(stack.daphne.pid, missing=None)
    stats = inject.flood(stack, label, cfg.flood_seconds, number=rep)
    after = cpu_seconds(stack.daphne.pid, missing=None)
    if None not in (before, after):
        stats["daphne_cpu"] = after - before
    return {"flooder": stats}


Scenario = collections.namedtuple("Scenario", "key title needs_postgres closes_expected inject")
SCENARIOS = [
    Scenario("flood", "flood beside the chatters (shipped budgets), from a new address each repeat", False, False,
             flood),
    Scenario("worker-kill", "SIGKILL 1 worker, replacement 2 s later", False, False,
             lambda stack, rep, cfg, label: {"note": inject.kill_worker(stack, rep)}),
    Scenario("redis-restart", "Redis stopped, new empty one 3 s later", False, True,
             lambda stack, rep, cfg, label: {"note": inject.restart_redis(stack, 3)}),
    Scenario("redis-freeze", "Redis SIGSTOP 10 s, SIGCONT", False, False,
             lambda stack, rep, cfg, label: {"note": inject.freeze_redis(stack, 10)}),
    Scenario("postgres-restart", "PostgreSQL down ~3 s", True, True,
             lambda stack, rep, cfg, label: {"note": inject.restart_postgres(stack, 3)}),
    Scenario("daphne-kill", "SIGKILL Daphne, restart on its port 2 s later", False, True,
             lambda stack, rep, cfg, label: {"note": inject.kill_daphne(stack, 2)}),
]
SCENARIO_KEYS = [s.key for s in SCENARIOS]


def until(clients, check, timeout, what):
    deadline = mono() + timeout
    while not clients.run(check):
        if mono() > deadline:
            raise RuntimeError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.1)


def run_repeat(stack, scenario, rep, cfg, clients):
    """One repeat: the chatters on the clients' loop, the fault from this (the main) thread."""
    tag = "%s%d%s" % (scenario.key[:2], rep, uuid.uuid4().hex[:4])
    label = "faults-%s-%d-%s" % (scenario.key, rep, uuid.uuid4().hex[:8])
    stack.create_rooms([label])
    chatters = [Chatter(stack, label, index + 1, handle="chatter-%d" % index, echo_timeout=cfg.echo_timeout,
                        gap_patience=cfg.gap_patience, interval=cfg.interval, seed="%s-%d" % (tag, index),
                        tag="%s-c%d" % (tag, index)) for index in range(cfg.clients)]

    def typing(on):
        for chatter in chatters:
            chatter.typing = on

    clients.run(typing, True)
    tasks = clients.run(lambda: [asyncio.ensure_future(chatter.run()) for chatter in chatters])
    result = {"scenario": scenario.key, "rep": rep}
    try:
        until(clients, lambda: all(c.recovered_at(0) for c in chatters) or any(c.crash for c in chatters), 60,
              "a first echo for every chatter")
        time.sleep(cfg.warmup)
        fault_start = mono()
        result.update(scenario.inject(stack, rep, cfg, label))
        fault_end = mono()
        until(clients, lambda: mono() >= fault_end + cfg.after and all(c.recovered_at(fault_end) for c in chatters)
              or mono() >= fault_end + cfg.max_after, cfg.max_after + 1, "the end of the chat")
        clients.run(typing, False)
        stopped_typing = mono()
        until(clients, lambda: not any(c.outbox for c in chatters) or mono() >= stopped_typing + cfg.drain,
              cfg.drain + 1, "the drain")
        time.sleep(SETTLE)
    finally:
        clients.run(lambda: [chatter.stop() for chatter in chatters])
        clients.call(_finished(tasks), 60)
    crashed = [c.crash for c in chatters if c.crash]
    if crashed:
        raise RuntimeError("a chatter failed:\n" + crashed[0])
    rows = Stores(stack).messages([label])
    result.update(measure(chatters, rows, fault_start, fault_end))
    write_trace(os.path.join(stack.workdir, "trace-%s-%d.txt" % (scenario.key, rep)), chatters, fault_start,
                fault_end, stopped_typing, label)
    return result


async def _finished(tasks):
    await asyncio.gather(*tasks)


def measure(chatters, rows, fault_start, fault_end):
    a = audit(chatters, rows)
    recoveries = [chatter.recovered_at(fault_end) for chatter in chatters]
    closes = collections.Counter(kind for c in chatters for _, kind, _ in c.server_closes)
    return {
        "sent": a["sent"], "acked": a["acked"], "acked_http": a["acked_http"], "persisted": a["saved"],
        "lost_acked": len(a["lost_acked"]), "lost_sent": len(a["lost_sent"]), "dup_saved": len(a["duplicated"]),
        "shown_twice": a["shown_twice"], "unseen": a["unseen"], "foreign_rows": a["foreign_rows"],
        "closed": sum(closes.values()), "close_kinds": dict(closes),
        "closed_after": sum(1 for c in chatters for when, _, _ in c.server_closes if when > fault_end),
        "closed_after_quick": sum(1 for c in chatters for when, _, quick in c.server_closes
                                  if when > fault_end and quick),
        "connect_failures": dict(sum((c.connect_failures for c in chatters), collections.Counter())),
        "refused_after": sum(1 for c in chatters for when, reason in c.connect_failure_times
                             if when > fault_end and reason.startswith("HTTP")),
        "recovery": None if None in recoveries else max(recoveries) - fault_end,
        "not_recovered": recoveries.count(None),
        "worst_wait": max(a["waits"]) if a["waits"] else None,
        "median_wait": statistics.median(a["waits"]) if a["waits"] else None,
        "fault_seconds": fault_end - fault_start,
        "counters": dict(sum((c.counters for c in chatters), collections.Counter())),
        "flood_saved": sum(1 for row in rows if row[1] == inject.FLOOD_HANDLE),
    }


def write_trace(path, chatters, fault_start, fault_end, stopped_typing, label):
    """Every chatter's socket events, in seconds from the fault, next to the process logs."""
    lines = [(fault_start, "-", "fault starts"), (fault_end, "-", "fault over (service restored)"),
             (stopped_typing, "-", "typing stops")]
    for chatter in chatters:
        lines.extend((when, chatter.handle, what) for when, what in chatter.events)
        recovered = chatter.recovered_at(fault_end)
        if recovered is not None:
            lines.append((recovered, chatter.handle, "first echo of a message typed after the fault"))
        lines.extend((item.acked_at, chatter.handle, "echo of %s (%s) after %.1f s" % (
            item.client_id, item.acked_via, item.acked_at - item.created)) for item in chatter.items.values()
            if item.acked_at is not None and item.acked_at - item.created > 1.0)
    with open(path, "w") as handle:
        handle.write("room %s; seconds from the fault\n" % label)
        for when, who, what in sorted(lines, key=lambda line: line[0]):
            handle.write("%8.2f  %-10s %s\n" % (when - fault_start, who, what))


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def defects_of(result, scenario):
    """Plain statements of what a protocol-following client should never see."""
    if "error" in result:
        return ["the run failed: %s" % result["error"].strip().splitlines()[-1]]
    checks = [
        (result["lost_acked"], "%d acknowledged message(s) not in the database"),
        (result["lost_sent"], "%d sent message(s) never saved (still unanswered after the drain)"),
        (result["dup_saved"], "%d client_id(s) saved more than once"),
        (result["shown_twice"], "%d message(s) held under two ids by one client"),
        (result["unseen"], "%d (client, message) pair(s) of saved messages a client never got"),
        (result["foreign_rows"], "%d row(s) in the room that no client sent"),
    ]
    found = [text % count for count, text in checks if count]
    if result["closed"] and not scenario.closes_expected:
        found.append("%d chatter socket(s) closed by the server (%s)" % (
            result["closed"], ", ".join("%s x%d" % kv for kv in sorted(result["close_kinds"].items()))))
    if result["not_recovered"]:
        found.append("%d client(s) without a fresh echo %.0f s after the fault ended"
                     % (result["not_recovered"], result["max_after"]))
    return found


def findings_of(result):
    found = []
    if result.get("closed_after") or result.get("refused_after"):
        found.append("after the service was restored the server still closed %d chatter socket(s) (%d of them "
                     "within 1 s of opening) and refused %d handshake(s) with an HTTP error: each costs that "
                     "client one more back-off round" % (result["closed_after"], result["closed_after_quick"],
                                                         result["refused_after"]))
    lost_state = result["counters"].get("state lost, kept to resend", 0)
    if lost_state:
        found.append("%d chat frame(s) answered internal_error without \"saved\" (the server lost the socket's "
                     "state and closed it); resent as docs/protocol.md says" % lost_state)
    return found


def details_of(result):
    c = result.get("counters", {})
    parts = ["%s %d" % (label, c[key]) for key, label in (
        ("resends", "resends"), ("echo timeouts", "echo timeouts"), ("error rate_limited", "rate_limited"),
        ("error internal_error", "internal_error"), ("hole fills", "hole fills"), ("hole fill failed", "failed fills"),
        ("error catchup_truncated", "catchup_truncated"),
        ("state lost, kept to resend", "internal_error without saved, kept and resent"),
        ("same id again", "same id twice (deduped)"), ("waited to type", "waited to type")) if c.get(key)]
    if result.get("connect_failures"):
        parts.append("failed connects: " + ", ".join("%s x%d" % kv for kv in sorted(result["connect_failures"].items())))
    if result.get("acked_http"):
        parts.append("acked via HTTP fill %d" % result["acked_http"])
    if result.get("close_kinds"):
        parts.append("server closes: " + ", ".join("%s x%d" % kv for kv in sorted(result["close_kinds"].items()))
                     + " (%d of them after the fault was over)" % result["closed_after"])
    if c.get("closed within 1 s of opening"):
        parts.append("%d closed within 1 s of opening" % c["closed within 1 s of opening"])
    if result.get("flooder"):
        f = result["flooder"]
        parts.append("flooder: %d frames, %d sockets opened, %d closed, %d refused; %d flood rows saved; CPU during "
                     "the flood: flooder %.1f s, Daphne %.1f s" % (
                         f.get("frames", 0), f.get("opened", 0), f.get("closed", 0), f.get("refused", 0),
                         result.get("flood_saved", 0), f.get("cpu", float("nan")), f.get("daphne_cpu", float("nan"))))
    if result.get("note"):
        parts.append(result["note"])
    return "; ".join(parts) or "-"


COLUMNS = [("scenario", 16, "s"), ("rep", 3, "d"), ("fault s", 7, "f"), ("sent", 5, "d"), ("acked", 5, "d"),
           ("saved", 5, "d"), ("lost acked", 10, "d"), ("lost sent", 9, "d"), ("dup saved", 9, "d"),
           ("shown twice", 11, "d"), ("closed", 6, "d"), ("recovery s", 10, "f"), ("echo med s", 10, "f"),
           ("echo max s", 10, "f")]
ROW_KEYS = ["scenario", "rep", "fault_seconds", "sent", "acked", "persisted", "lost_acked", "lost_sent", "dup_saved",
            "shown_twice", "closed", "recovery", "median_wait", "worst_wait"]


def table_row(values):
    cells = []
    for (name, width, kind), value in zip(COLUMNS, values):
        text = "-" if value is None else "%.1f" % value if kind == "f" else str(value)
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
    w("code:     %s" % meta["code"])
    w("stack:    a fresh one per scenario, as it ships: %s, private on 127.0.0.1, no persistence; Daphne via "
      "deploy/daphne.sh with the shipped budgets (5 frames/s and 20 at once per socket, 10/s and 50 per address, "
      "5 new sockets/s and 30 per address); %s; database: %s" % (meta["redis"], meta["processes"], meta["database"]))
    w("load:     %d chatters in one room (a new room per repeat), each from its own loopback address, a message "
      "every %.2f s +-20%% (%.1f messages/s in all), each with a new client_id; no echo in %g s: close, reconnect, "
      "resend; back-off %.1f s doubling to %.0f s; holes filled from the HTTP API after %g s; at most %d "
      "unanswered messages each" % (cfg.clients, cfg.interval, cfg.clients / cfg.interval, cfg.echo_timeout,
                                    BACKOFF_FIRST, BACKOFF_MAX, cfg.gap_patience, PENDING_CAP))
    w("timing:   per repeat: first echo for all, %gs warm-up, the fault, chat until all recovered and at least %gs "
      "(at most %gs) after it, %gs drain without typing, %gs settle; flood %gs"
      % (cfg.warmup, cfg.after, cfg.max_after, cfg.drain, SETTLE, cfg.flood_seconds))
    w("")
    w("sent: distinct client_ids sent at least once. acked: the sender saw its echo (live, in a catch-up or, "
      "counted in the notes, in a hole fill). saved: of those sent, in the database at the end. lost acked: acked "
      "but not saved; lost sent: sent but not saved by the end. dup saved: a client_id saved as more than one row. "
      "shown twice: a client_id one client holds under two ids after keeping messages by id (summed over "
      "clients). closed: chatter sockets the server closed or dropped (the chatters' own closes after an echo "
      "timeout are not counted). recovery: from the end of the fault until every chatter saw the echo of a "
      "message it typed after it. echo med/max: from typing to echo, over all acked messages of the repeat. "
      "fault s: from the fault until the harness had restored the service.")
    w("")
    header = "  ".join(name.ljust(width) if kind == "s" else name.rjust(width) for name, width, kind in COLUMNS)
    w(header)
    w("-" * len(header))
    by_key = collections.defaultdict(list)
    for result in results:
        by_key[result["scenario"]].append(result)
    for scenario in scenarios:
        for result in by_key.get(scenario.key, []):
            if "skipped" in result or "error" in result:
                w(table_row([scenario.key, result["rep"] or None]) + "   " + (
                    "skipped: " + result["skipped"] if "skipped" in result else "FAILED (see below)"))
            else:
                w(table_row([result[key] for key in ROW_KEYS]))
    w("")
    w("Scenarios, and per repeat what the clients did about it:")
    defects, findings = [], []
    for scenario in scenarios:
        w("  %s: %s%s" % (scenario.key, scenario.title,
                          " (server closes are part of this fault)" if scenario.closes_expected else ""))
        for result in by_key.get(scenario.key, []):
            if "skipped" in result:
                w("    skipped: %s" % result["skipped"])
                continue
            if "error" in result:
                w("    rep %d FAILED: %s" % (result["rep"], result["error"].strip().replace("\n", "\n      ")))
            else:
                w("    rep %d: %s" % (result["rep"], details_of(result)))
                findings += ["%s rep %d: %s" % (scenario.key, result["rep"], text) for text in findings_of(result)]
            defects += ["%s rep %d: %s" % (scenario.key, result["rep"], text) for text in defects_of(result, scenario)]
    w("")
    if findings:
        w("Findings (costs beyond the fault itself):")
        w("\n".join("  - " + text for text in findings))
        w("")
    if defects:
        w("Defects (what a protocol-following client should never see):")
        w("\n".join("  - " + text for text in defects))
        for key in sorted({text.split(" rep ")[0] for text in defects}):
            w("  reproduce: %s" % meta["reproduce"].replace("<scenario>", key))
    else:
        w("Defects: none. No acknowledged message was lost, no client_id was saved twice, no client held a message "
          "twice, every client recovered, and the flood closed no chatter's socket.")
    return "\n".join(out) + "\n", defects


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

def run_scenario(scenario, cfg, workdir, log):
    results = []
    log("[%s] starting a stack" % scenario.key)
    # As it ships; the workers log what they dispatch (-v 2: which worker ran what).
    with ProjectStack(os.path.join(workdir, scenario.key), cfg.database, worker_args=["-v", "2"]) as stack:
        log("[%s] redis pid %d, daphne pid %d port %d, workers %s" % (
            scenario.key, stack.redis.pid, stack.daphne.pid, stack.http_port,
            ", ".join(str(w.pid) for w in stack.workers)))
        cfg.processes = "1 Daphne, %d runworkers (WORKER_PROCESSES), runpresence" % len(stack.workers)
        clients = inject.LoopThread()
        try:
            for rep in range(1, cfg.repeat + 1):
                if rep > 1:
                    time.sleep(BETWEEN_REPEATS)
                t0 = mono()
                try:
                    result = run_repeat(stack, scenario, rep, cfg, clients)
                except Exception:
                    log("[%s] rep %d failed:\n%s" % (scenario.key, rep, traceback.format_exc()))
                    results.append({"scenario": scenario.key, "rep": rep,
                                    "error": "%s\n%s" % (traceback.format_exc(), stack.logs(lines=15))})
                    break  # the stack may be broken: on to the next scenario
                result["max_after"] = cfg.max_after
                results.append(result)
                log("[%s] rep %d (%.0fs): %s | %s" % (scenario.key, rep, mono() - t0, table_row(
                    [result[key] for key in ROW_KEYS]), details_of(result)))
                if not all(worker.alive() for worker in stack.workers):
                    raise RuntimeError("a worker died on its own:\n" + stack.logs(lines=30))
        finally:
            clients.close()
    return results


def main():
    parser = argparse.ArgumentParser(description="What each fault (flood, worker SIGKILL, Redis restart or freeze, "
                                                 "PostgreSQL restart, Daphne SIGKILL) costs protocol-following "
                                                 "chat clients.")
    add = parser.add_argument
    add("--database", choices=("sqlite", "postgresql"), default="sqlite",
        help="sqlite (default) or postgresql (a private server per scenario; postgres-restart needs it)")
    add("--repeat", type=int, default=3, help="runs of each scenario (default 3)")
    add("--scenarios", default=",".join(SCENARIO_KEYS), help="comma-separated, of: %s" % ", ".join(SCENARIO_KEYS))
    add("--clients", type=int, default=6, help="chatters in the room (default 6)")
    add("--interval", type=float, default=0.3, help="seconds between one chatter's messages")
    add("--echo-timeout", type=float, default=8.0, help="seconds without an echo before reconnecting and resending")
    add("--gap-patience", type=float, default=2.0, help="seconds a hole may stay open before it is filled over HTTP")
    add("--warmup", type=float, default=8.0, help="seconds of chat before the fault")
    add("--after", type=float, default=12.0, help="least seconds of chat after the fault")
    add("--max-after", type=float, default=40.0, help="most seconds after the fault for every chatter to recover")
    add("--drain", type=float, default=30.0, help="most seconds, without typing, for unanswered messages")
    add("--flood-seconds", type=float, default=10.0, help="how long the flooder floods")
    add("--commit", help="run the project as committed at this revision (git archive), not the working tree")
    add("--keep", action="store_true", help="keep the run directory (process logs, per-repeat traces)")
    add("--output", default="", help="also write the report here, e.g. bench/results/faults.txt")
    cfg = parser.parse_args()
    keys = [key.strip() for key in cfg.scenarios.split(",") if key.strip()]
    if not keys or set(keys) - set(SCENARIO_KEYS):
        parser.error("unknown scenario(s) %s; choose from %s" % (", ".join(set(keys) - set(SCENARIO_KEYS)),
                                                                 ", ".join(SCENARIO_KEYS)))
    if cfg.repeat < 1 or cfg.clients < 1 or cfg.interval <= 0:
        parser.error("--repeat, --clients and --interval must be positive")
    if cfg.interval < 0.8 / 5:
        parser.error("--interval: one socket may send 5 frames a second; stay under it")
    scenarios = [s for s in SCENARIOS if s.key in keys]

    def log(line):
        print(line, flush=True)

    python = os.path.relpath(sys.executable, os.getcwd())
    code, fingerprint = provenance.code_fingerprint()
    if cfg.commit:
        ProjectStack.commit = provenance.resolve_commit(cfg.commit)
        code = "%s (git archive of %s)" % (ProjectStack.commit, cfg.commit)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "python": python, "command": shlex.join([python] + sys.argv), "code": "git " + code,
            "redis": provenance.program_version(["redis-server", "--version"]),
            "database": ("PostgreSQL %s, private on 127.0.0.1 (fsync off, as in the tests)" % postgres_version()
                         if cfg.database == "postgresql" else "SQLite, a file per scenario"),
            "reproduce": shlex.join([python, "bench/faults.py", "--database", cfg.database, "--scenarios"])
            + " <scenario> --repeat 1 --keep" + (" --commit " + cfg.commit if cfg.commit else "")}
    t0 = mono()
    workdir = tempfile.mkdtemp(prefix="chat-faults-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg.processes = "?"
    results = []
    for scenario in scenarios:
        if scenario.needs_postgres and cfg.database != "postgresql":
            results.append({"scenario": scenario.key, "rep": 0, "skipped": "needs --database postgresql"})
            continue
        try:
            results.extend(run_scenario(scenario, cfg, workdir, log))
        except Exception:
            log("[%s] failed:\n%s" % (scenario.key, traceback.format_exc()))
            results.append({"scenario": scenario.key, "rep": 0, "error": traceback.format_exc()})
    meta["processes"] = cfg.processes
    if not cfg.commit and provenance.code_fingerprint()[1] != fingerprint:
        meta["code"] += "; CHANGED DURING THE RUN, now %s" % provenance.code_fingerprint()[0]
    text, defects = report(results, meta, cfg, scenarios)
    text += "(whole run: %.0fs)\n" % (mono() - t0)
    if cfg.keep or defects:
        log("process logs kept in %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + text, end="")
    if cfg.output:
        write_report(cfg.output, text)
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
