"""
docs/performance.md from one run's results (bench/results/performance.json):
a table per workload with the three servers side by side and the ratio of
this project to the peer, plots (matplotlib) into docs/performance/, the
machine, the versions, the commit and the command, and the capacity model.
"""
import math
import os

SERVERS = ("project", "peer", "bare")
HEAD = {"project": "this project", "peer": "Channels 4 peer", "bare": "bare websockets"}
# The capacity model's assumption: one message a minute per connected person.
MESSAGES_PER_USER_PER_S = 1 / 60.0
REDIS_CORE_BUDGET = 0.8  # of its one core, before a Redis shard is full
STORM_SECONDS = 10.0


def num(value, digits=1, unit=""):
    if value is None:
        return "-"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "-"
    if abs(value) >= 100 and digits <= 1:
        return "{:,.0f}{}".format(value, unit)
    return "{:,.{d}f}{}".format(value, unit, d=digits)


def ratio(a, b, digits=2):
    if a is None or b in (None, 0):
        return "-"
    return "%.*f×" % (digits, a / b)


def get(data, server, database, workload):
    result = data.get("runs", {}).get(server, {}).get(database, {}).get(workload)
    return result if result and "error" not in result else None


def error_of(data, server, database, workload):
    result = data.get("runs", {}).get(server, {}).get(database, {}).get(workload)
    return result.get("error") if result else None


class Doc:
    def __init__(self):
        self.lines = []

    def add(self, *lines):
        self.lines.extend(lines)

    def table(self, header, rows):
        self.add("| " + " | ".join(header) + " |", "|" + "---|" * len(header))
        for row in rows:
            self.add("| " + " | ".join(str(cell) for cell in row) + " |")
        self.add("")


def side_by_side(doc, data, database, workload, metrics, servers=SERVERS):
    """metrics: [(label, function(result) -> number, digits)]"""
    present = [server for server in servers if server in data.get("runs", {})]
    results = {server: get(data, server, database, workload) for server in present}
    if not any(results.values()):
        errors = {s: error_of(data, s, database, workload) for s in present}
        doc.add("Not measured in this run%s." % (
            ": " + "; ".join("%s: %s" % (HEAD[s], e) for s, e in errors.items() if e) if any(errors.values()) else ""),
            "")
        return results
    header = ["", *[HEAD[s] for s in present]]
    if "project" in present and "peer" in present:
        header.append("project ÷ peer")
    rows = []
    for label, function, digits in metrics:
        values = {}
        for server in present:
            try:
                values[server] = function(results[server]) if results[server] else None
            except (KeyError, TypeError, ZeroDivisionError):
                values[server] = None
        row = [label] + [num(values[s], digits) for s in present]
        if "project" in present and "peer" in present:
            row.append(ratio(values["project"], values["peer"]))
        rows.append(row)
    doc.table(header, rows)
    for server in present:
        if results[server] is None and error_of(data, server, database, workload):
            doc.add("%s failed: `%s`" % (HEAD[server], error_of(data, server, database, workload)), "")
    return results


def closes(result):
    closed = result.get("closed") or {}
    return sum(closed.values())


def errors_text(result):
    errors = result.get("errors") or {}
    return ", ".join("%s %d" % item for item in sorted(errors.items())) or "0"


STEP_METRICS = [
    ("delivered / expected", lambda r: 100.0 * r["delivered_fraction"], 1),
    ("latency p50 (ms)", lambda r: r["p50_ms"], 1),
    ("latency p90 (ms)", lambda r: r["p90_ms"], 1),
    ("latency p99 (ms)", lambda r: r["p99_ms"], 1),
    ("latency max (ms)", lambda r: r["max_ms"], 1),
    ("deliveries/s", lambda r: r["deliveries_per_s"], 0),
    ("sockets closed by the server", closes, 0),
    ("error frames", lambda r: sum((r.get("errors") or {}).values()), 0),
    ("members logged as not sent a broadcast", lambda r: r.get("logged_drops"), 0),
    ("client CPU s per 1,000 deliveries", lambda r: r["cpu_per_1000"]["client"], 3),
    ("client's worst send lag behind schedule (ms)", lambda r: r["max_send_lag_ms"], 1),
]


def cpu_rows(result):
    """CPU seconds per 1,000 deliveries by process type (workers summed)."""
    per = result.get("cpu_per_1000") or {}
    kinds = {}
    for name, value in per.items():
        if value is None:
            continue
        kinds[name] = value
        if name.startswith("worker"):
            kinds["workers (all)"] = kinds.get("workers (all)", 0.0) + value
    return kinds


def cpu_table(doc, data, database, workload, pick):
    present = [s for s in SERVERS if get(data, s, database, workload)]
    picked = {s: pick(get(data, s, database, workload)) for s in present}
    picked = {s: r for s, r in picked.items() if r}
    if not picked:
        return
    kinds = []
    for result in picked.values():
        for kind in cpu_rows(result):
            if kind not in kinds:
                kinds.append(kind)
    order = ["daphne", "server", "worker-1", "worker-2", "worker-3", "worker-4", "worker-5", "worker-6",
             "workers (all)", "presence", "redis", "postgres", "client"]
    kinds.sort(key=lambda k: order.index(k) if k in order else len(order))
    rows = []
    for kind in kinds:
        rows.append([kind] + [num(cpu_rows(picked[s]).get(kind), 3) if s in picked else "-" for s in present])
    rows.append(["**server total**"] + [num(sum(v for k, v in cpu_rows(picked[s]).items()
                                                if k not in ("client", "workers (all)")), 3) for s in present])
    doc.add("CPU seconds per 1,000 deliveries, by process (%s; SQLite runs inside the workers or the peer's "
            "Daphne, PostgreSQL is its whole process tree):" % (
                "at the sustained step, or the first step when none passed" if workload.startswith(("w1", "w2"))
                else "over the whole workload, idle time included"), "")
    doc.table(["process"] + [HEAD[s] for s in present], rows)


def any_result(data, database, workload):
    """The first server's result of a workload (for its sizes), or {}."""
    for server in SERVERS:
        result = get(data, server, database, workload)
        if result:
            return result
    return {}


def is_capped(result):
    """Every step of a stepped workload passed: its limit lies above the last step."""
    steps = result.get("steps") or []
    return result.get("capped", bool(steps) and all(step["ok"] for step in steps))


def best_step(result):
    return result.get("sustained_step") or (result.get("steps") or [None])[0]


def plot_steps(data, database, workload, title, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    drawn = False
    for server, colour in zip(SERVERS, ("tab:red", "tab:blue", "tab:grey")):
        result = get(data, server, database, workload)
        if not result or not result.get("steps"):
            continue
        steps = sorted(result["steps"], key=lambda step: step["offered_deliveries_per_s"])
        offered = [s["offered_deliveries_per_s"] for s in steps]
        left.plot(offered, [s["p50_ms"] or float("nan") for s in steps], "o-", color=colour,
                  label="%s p50" % HEAD[server])
        left.plot(offered, [s["p99_ms"] or float("nan") for s in steps], "s--", color=colour,
                  label="%s p99" % HEAD[server])
        right.plot(offered, [s["deliveries_per_s"] or 0 for s in steps], "o-", color=colour, label=HEAD[server])
        drawn = True
    if not drawn:
        plt.close(figure)
        return False
    left.set_yscale("log")
    left.axhline(100, color="black", linewidth=0.8, linestyle=":")
    left.set_xlabel("offered deliveries/s")
    left.set_ylabel("latency (ms, log scale)")
    left.set_title("latency")
    left.legend(fontsize=7)
    limit = max(max(s["offered_deliveries_per_s"] for s in (get(data, sv, database, workload) or {}).get("steps", [])
                    or [{"offered_deliveries_per_s": 0}]) for sv in SERVERS)
    right.plot([0, limit], [0, limit], color="black", linewidth=0.8, linestyle=":", label="offered")
    right.set_xlabel("offered deliveries/s")
    right.set_ylabel("delivered deliveries/s")
    right.set_title("delivery")
    right.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def stepped_section(doc, data, database, workload, title, docs_dir, figure_name):
    present = [s for s in SERVERS if s in data.get("runs", {})]
    results = {s: get(data, s, database, workload) for s in present}
    if not any(results.values()):
        doc.add("Not measured in this run.", "")
        return
    rows = []
    for label, function, digits in (
            ("sustained: offered deliveries/s with all delivered, none closed, no error frame, none logged "
             "as not sent, p99 ≤ 100 ms",
             lambda r: r["sustained"], 0),
            ("p99 at the sustained step (ms)", lambda r: r["sustained_step"]["p99_ms"], 1),
            ("p50 at the sustained step (ms)", lambda r: r["sustained_step"]["p50_ms"], 1),
            ("first failing step (offered d/s; - when every step passed)", lambda r: next(
                (s["offered_deliveries_per_s"] for s in r["steps"] if not s["ok"]), None), 0),
            ("handshakes/s opening the sockets", lambda r: r["opened"]["handshakes_per_s"], 0)):
        values = {}
        for server in present:
            try:
                values[server] = function(results[server]) if results[server] else None
            except (KeyError, TypeError):
                values[server] = None
        row = [label] + [num(values[s], digits) for s in present]
        if label.startswith("sustained"):
            row = [label] + [("≥ " if results[s] and is_capped(results[s]) else "") + num(values[s], digits)
                             for s in present]
        if "project" in present and "peer" in present:
            row.append(ratio(values["project"], values["peer"]))
        rows.append(row)
    header = [""] + [HEAD[s] for s in present] + (["project ÷ peer"] if "peer" in present and "project" in present
                                                   else [])
    doc.table(header, rows)
    doc.add("Every step (offered deliveries/s: delivered/expected within the drain, p50/p99/max ms, closed, "
            "error frames):", "")
    for server in present:
        result = results[server]
        if not result:
            if error_of(data, server, database, workload):
                doc.add("- %s: failed, `%s`" % (HEAD[server], error_of(data, server, database, workload)))
            continue
        parts = []
        for s in result["steps"]:
            parts.append("%s: %s/%s, %s/%s/%s ms%s%s" % (
                num(s["offered_deliveries_per_s"], 0), s["delivered"], s["expected"], num(s["p50_ms"]),
                num(s["p99_ms"]), num(s["max_ms"]),
                ", closed by the server (close code: sockets) %s" % s["closed"] if s["closed"] else "",
                ", errors %s" % errors_text(s) if s["errors"] else "")
                + (", %d members logged as not sent" % s["logged_drops"] if s.get("logged_drops") else ""))
        doc.add("- %s: %s" % (HEAD[server], "; ".join(parts)))
    doc.add("")
    path = os.path.join(docs_dir, "performance", figure_name)
    if plot_steps(data, database, workload, "%s (%s)" % (title, database), path):
        doc.add("![%s](performance/%s)" % (title, figure_name), "")
    cpu_table(doc, data, database, workload, best_step)


def fit_costs(points):
    """Per process type: CPU s = a * messages + b * deliveries, from two points [(m, d, {kind: cpu})]."""
    (m1, d1, c1), (m2, d2, c2) = points
    det = m1 * d2 - m2 * d1
    costs = {}
    for kind in set(c1) & set(c2):
        if det == 0:
            continue
        a = (c1[kind] * d2 - c2[kind] * d1) / det
        b = (m1 * c2[kind] - m2 * c1[kind]) / det
        costs[kind] = (max(a, 0.0), max(b, 0.0))
    return costs


def kinds_of(cpu):
    kinds = {}
    for name, value in cpu.items():
        kind = "workers" if name.startswith("worker") else name
        kinds[kind] = kinds.get(kind, 0.0) + value
    return kinds


def point(step, idle):
    """(messages, deliveries, {kind: CPU s less the idle rate}) of a measured step."""
    kinds = kinds_of(step["cpu"])
    active = {kind: max(0.0, value - idle.get(kind, 0.0) * step["wall_seconds"]) for kind, value in kinds.items()}
    return step["sent"], step["delivered"], active


def capacity_section(doc, data):
    doc.add("## Capacity model", "")
    w1 = get(data, "project", "sqlite", "w1")
    w3 = get(data, "project", "sqlite", "w3")
    w4 = get(data, "project", "sqlite", "w4")
    hs = get(data, "project", "sqlite", "handshake")
    if not (w1 and w1.get("steps") and w3):
        doc.add("Needs W1 and W3 of this project in the same run; not measured.", "")
        return
    idle = {}
    if w4:
        idle = {kind: value / w4["idle_seconds"] for kind, value in kinds_of(w4["idle_cpu"]).items()}
    small = best_step(w1)
    costs = fit_costs([point(small, idle), point(w3, idle)])
    room_small = w1["per_room"]
    room_large = w3["sockets"]
    doc.add(
        "What a message costs each process type of this project, measured in this run: CPU seconds = *a* × "
        "messages + *b* × deliveries, solved from two points with different room sizes: W1 at its sustained "
        "step (rooms of %d) and W3 (one room of %d), each less the idle CPU the stack burns anyway (W4). "
        "With SQLite the database's work is inside the workers." % (room_small, room_large), "")
    order = ["daphne", "workers", "presence", "redis", "postgres"]
    kinds = [k for k in order if k in costs]
    rows = []
    for kind in kinds:
        a, b = costs[kind]
        per_handshake = None
        if hs:
            per_handshake = sum(v for n, v in hs["cpu_per_handshake_ms"].items()
                                if (n.startswith("worker") and kind == "workers") or n == kind)
        rows.append([kind, num(a * 1000, 3), num(b * 1000, 3), num(per_handshake, 2),
                     num(idle.get(kind, 0.0) * 100, 2)])
    doc.table(["process type", "CPU s per 1,000 messages (a)", "CPU s per 1,000 deliveries (b)",
               "CPU ms per handshake", "idle, % of a core (W4)"], rows)

    def cores(users, room):
        messages = users * MESSAGES_PER_USER_PER_S
        deliveries = messages * room
        return {kind: costs[kind][0] * messages + costs[kind][1] * deliveries for kind in kinds}, messages, deliveries

    doc.add("Turned into cores for a steady load (every connected person sends one message a minute; every "
            "message reaches every socket of its room), and the cores a reconnect storm needs (every socket "
            "reconnecting within %d s, from the handshake's CPU):" % STORM_SECONDS, "")
    rows = []
    for users in (1000, 100000):
        for room in (10, 1000):
            need, messages, deliveries = cores(users, room)
            storm = {}
            if hs:
                for kind in kinds:
                    per = sum(v for n, v in hs["cpu_per_handshake_ms"].items()
                              if (n.startswith("worker") and kind == "workers") or n == kind) / 1000.0
                    storm[kind] = per * users / STORM_SECONDS
            shards = math.ceil(need.get("redis", 0.0) / REDIS_CORE_BUDGET) if "redis" in need else None
            rows.append(["{:,}".format(users), "{:,}".format(room), num(messages, 0), num(deliveries, 0),
                         num(need.get("daphne"), 2), num(need.get("workers"), 2), num(need.get("redis"), 2),
                         num(sum(need.values()), 2), str(max(1, shards or 1)),
                         num(sum(storm.values()), 1) if storm else "-"])
    doc.table(["users", "room size", "messages/s", "deliveries/s", "Daphne cores", "worker cores", "Redis cores",
               "total cores", "Redis shards", "storm cores"], rows)
    # Checked against a measured point the fit did not use.
    check = None
    for workload in ("w2", "w1_large"):
        result = get(data, "project", "sqlite", workload)
        if result and result.get("steps"):
            check = (workload, best_step(result))
            break
    if check:
        workload, step = check
        predicted = {kind: costs[kind][0] * step["sent"] + costs[kind][1] * step["delivered"]
                     + idle.get(kind, 0.0) * step["wall_seconds"] for kind in kinds}
        measured = kinds_of(step["cpu"])
        rows = [[kind, num(predicted[kind], 2), num(measured.get(kind), 2),
                 ratio(measured.get(kind), predicted[kind])] for kind in kinds]
        total_p = sum(predicted.values())
        total_m = sum(measured.get(kind, 0.0) for kind in kinds)
        rows.append(["**total**", num(total_p, 2), num(total_m, 2), ratio(total_m, total_p)])
        doc.add("Checked against a point the fit did not use: %s at %s offered deliveries/s (%d messages, %d "
                "deliveries, %.1f s), CPU seconds:" % (workload.upper().replace("_LARGE", " large"),
                                                       num(step["offered_deliveries_per_s"], 0), step["sent"],
                                                       step["delivered"], step["wall_seconds"]), "")
        doc.table(["process type", "predicted", "measured", "measured ÷ predicted"], rows)
    if "redis" in costs:
        a, b = costs["redis"]
        per_10 = a / 10 + b
        per_1000 = a / 1000 + b
        bench_ = data.get("redis_benchmark") or {}
        doc.add(
            "**When Redis shards become necessary.** Redis runs commands on one core. Budgeting %d%% of it, one "
            "shard carries about %s deliveries/s in rooms of 10 and %s in rooms of 1,000 (this run's Redis cost "
            "per delivery), i.e. about %s and %s connected people at one message a minute. Past that, list "
            "more Redis URLs (REDIS_URLS: asgi_redis hashes channels and Groups over them). The floor: "
            "redis-benchmark does the commands of one layer hop in %s µs in series and at most %s hops/s "
            "with 50 clients (the floor, above)." % (
                REDIS_CORE_BUDGET * 100,
                num(REDIS_CORE_BUDGET / per_10 if per_10 else None, 0),
                num(REDIS_CORE_BUDGET / per_1000 if per_1000 else None, 0),
                num(REDIS_CORE_BUDGET / per_10 / (MESSAGES_PER_USER_PER_S * 10) if per_10 else None, 0),
                num(REDIS_CORE_BUDGET / per_1000 / (MESSAGES_PER_USER_PER_S * 1000) if per_1000 else None, 0),
                num(bench_.get("hop_us"), 0), num(bench_.get("hops_per_s"), 0)), "")
    doc.add("Daphne and runworker are single-threaded Python processes: a core of Daphne is one more Daphne "
            "process behind nginx (each below about 80% of a core), a core of workers one or two more "
            "`deploy/worker.sh`. The model is linear and measured on 2 shared cores with every process on them; "
            "read it as the order of magnitude, and re-measure where it matters.", "")


ANALYSIS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results", "analysis.md")


def write(data, path):
    docs_dir = os.path.dirname(path)
    meta = data.get("meta", {})
    doc = Doc()
    doc.add("# Performance: this project against Channels 4", "")
    doc.add("Written by the benchmark harness (`bench/`), not by hand: `%s`, %s, %.0f s. "
            "What the harness does and how to run it: [bench/README.md](../bench/README.md). "
            "Issue 13 asked for these figures and set the targets." % (
                meta.get("command"), meta.get("date"), meta.get("seconds", 0)), "")
    if meta.get("quick"):
        doc.add("**A quick run**: small sizes and short steps (the harness's `--quick`), to check the harness, "
                "not to quote. The figures to quote come from a full run (`python -m bench run`) on a quiet "
                "machine.", "")
    doc.add("**Read the ratios, not the absolute numbers.** All servers ran one after another in one run, on the "
            "same machine, through the same client, which shares the machine's cores with the server; other "
            "work on the machine moves absolute times by tens of percent.", "")
    doc.add("## Machine, versions, commit", "")
    doc.add("- machine: %s cores, %s, Linux %s, Python %s; load average before the run %s" % (
        meta.get("nproc"), meta.get("cpu"), meta.get("kernel"), meta.get("python"),
        " ".join(meta.get("load_before", []))))
    if meta.get("measured_commit"):
        doc.add("- commit measured: `%s` (exported with git archive; the harness ran from `%s`)" % (
            meta["measured_commit"], meta.get("commit")))
    else:
        doc.add("- commit: `%s`%s" % (meta.get("commit"), " (the working tree had uncommitted changes to the "
                                      "server's code)" if meta.get("server_code_modified") else ""))
    doc.add("- command: `.venv/bin/%s`" % meta.get("command"))
    for server in SERVERS:
        versions = data.get("versions", {}).get(server)
        if versions:
            doc.add("- %s: %s" % (HEAD[server], ", ".join("%s %s" % item for item in versions.items())))
    bench_ = data.get("redis_benchmark")
    if bench_:
        doc.add("- %s" % bench_.get("version"))
    doc.add("")
    doc.add("The servers: **this project** exactly as it ships (deploy/daphne.sh, the workers supervisord.conf "
            "runs by default, deploy/presence.sh, a private redis-server; the shipped settings and per-socket and "
            "per-address budgets); the **Channels 4 peer** (`bench/peer`: the same wire protocol and the same "
            "work per frame, i.e. check, save with previous_id and the client_id rule, broadcast through "
            "channels_redis, in one Daphne 4 process; no sessions, users, access levels, budgets, presence or "
            "announcements); the **bare websockets** server (`bench/harness/bare.py`: frames numbered and "
            "broadcast from memory, Python's ceiling). The client opens every socket from its own loopback "
            "address and sends open loop, each frame carrying its send time. CPU is read from /proc in "
            "10 ms ticks: for the small workloads (W0, the handshakes of a quick run) the CPU figures are coarse.",
            "")

    targets(doc, data)
    if os.path.exists(ANALYSIS):
        # The reading of the figures: written by hand after a run, kept beside its results.
        with open(ANALYSIS) as handle:
            doc.add(handle.read().strip(), "")

    doc.add("## W0: the latency floor (1 room × 2 sockets, 5 messages/s)", "")
    r = side_by_side(doc, data, "sqlite", "w0", STEP_METRICS)
    cpu_table(doc, data, "sqlite", "w0", lambda result: result)

    doc.add("## Handshakes, one at a time", "")
    side_by_side(doc, data, "sqlite", "handshake", [
        ("sockets opened one after another", lambda r: r["opened"], 0),
        ("median (ms)", lambda r: r["p50_ms"], 1), ("p90 (ms)", lambda r: r["p90_ms"], 1),
        ("max (ms)", lambda r: r["max_ms"], 1), ("all of them (s)", lambda r: r["total_seconds"], 2),
        ("server CPU ms per handshake", lambda r: sum(v for k, v in r["cpu_per_handshake_ms"].items()
                                                      if k != "client"), 2)])

    for database in ("sqlite", "postgresql"):
        label = "SQLite" if database == "sqlite" else "PostgreSQL"
        doc.add("## W1: 10 rooms × 10 sockets, stepping the rate (%s)" % label, "")
        stepped_section(doc, data, database, "w1", "W1 10x10", docs_dir, "w1-10x10-%s.png" % database)
        if database == "sqlite":
            result = any_result(data, "sqlite", "w1_large")
            doc.add("## W1: %s rooms × %s sockets, stepping the rate (SQLite)" % (
                result.get("rooms", "100"), result.get("per_room", "10")), "")
            stepped_section(doc, data, database, "w1_large", "W1 large", docs_dir, "w1-large-sqlite.png")
            result = any_result(data, "sqlite", "w2")
            doc.add("## W2: %s rooms × %s sockets, stepping the rate (SQLite)" % (
                result.get("rooms", "10"), result.get("per_room", "100")), "")
            stepped_section(doc, data, database, "w2", "W2", docs_dir, "w2-sqlite.png")

    result = any_result(data, "sqlite", "w3")
    doc.add("## W3: one room of %s sockets, 1 message/s" % result.get("sockets", "1,000"), "")
    side_by_side(doc, data, "sqlite", "w3", STEP_METRICS + [
        ("handshakes/s opening them", lambda r: r["handshakes_per_s"], 0)])
    cpu_table(doc, data, "sqlite", "w3", lambda result: result)

    result = any_result(data, "sqlite", "w4")
    doc.add("## W4: %s idle sockets on one server process" % result.get("sockets", "5,000"), "")
    side_by_side(doc, data, "sqlite", "w4", [
        ("sockets open", lambda r: r["opened"], 0),
        ("handshakes/s opening them", lambda r: r["handshakes_per_s"], 0),
        ("Daphne (server) RSS growth per socket (KiB)", lambda r: r["bytes_per_socket"] / 1024.0, 1),
        ("whole stack RSS growth per socket (KiB)", lambda r: r["stack_rss_per_socket"] / 1024.0, 1),
        ("front process RSS with them (MiB)", lambda r: r["rss_after"].get("daphne", r["rss_after"].get("server", 0))
         / 2.0 ** 20, 1),
        ("idle CPU of the whole stack (% of one core)", lambda r: r["idle_core_percent"], 2),
        ("still open at the end", lambda r: r["still_open"], 0)])
    w4 = get(data, "project", "sqlite", "w4")
    if w4:
        doc.add("This project's idle CPU by process (%% of one core): %s." % ", ".join(
            "%s %s" % (role, num(100.0 * seconds / w4["idle_seconds"], 2))
            for role, seconds in sorted(w4["idle_cpu"].items(), key=lambda item: -item[1]) if role != "client"), "")

    for database in ("sqlite", "postgresql"):
        result = any_result(data, database, "w5")
        doc.add("## W5: a reconnect storm, %s sockets of one room (%s)" % (
            result.get("sockets", "2,000"), "SQLite" if database == "sqlite" else "PostgreSQL"), "")
        doc.add("Every socket is cut at once (TCP abort, as a restart or a network failure does), 10 messages are "
                "sent meanwhile from another socket, then all reconnect at the same moment with "
                "`?after=<the last id each saw>`.", "")
        for server in SERVERS:
            result_ = get(data, server, database, "w5")
            if result_ and (result_.get("storm_errors") or result_.get("storm_closed")):
                doc.add("%s: error frames by code %s; closed by the server, by close code, %s." % (
                    HEAD[server], result_.get("storm_errors") or "none", result_.get("storm_closed") or "none"), "")
        side_by_side(doc, data, database, "w5", [
            ("sockets", lambda r: r["sockets"], 0),
            ("reconnected", lambda r: r["reconnected"], 0),
            ("caught up (every missed message)", lambda r: r["caught_up"], 0),
            ("until the last is open (s)", lambda r: r["all_open_s"], 2),
            ("median open (s)", lambda r: r["open_p50_s"], 2),
            ("until the last is caught up (s)", lambda r: r["all_caught_up_s"], 2),
            ("median caught up (s)", lambda r: r["caught_p50_s"], 2),
            ("handshakes failed (each retried with chat.js's back-off)", lambda r: r["failures"], 0),
            ("catch-ups cut short (catchup_truncated), the rest fetched over HTTP",
             lambda r: r.get("fetched_over_http", 0), 0),
            ("error frames during the storm", lambda r: sum(r["storm_errors"].values()), 0),
            ("sockets closed by the server during the storm", lambda r: sum(r["storm_closed"].values()), 0),
            ("server CPU s of the storm", lambda r: sum(v for k, v in r["cpu"].items() if k != "client"), 2)])

    doc.add("## The floor: redis-benchmark", "")
    if bench_:
        doc.add("The Redis commands one channel-layer hop of the stock asgi_redis 1.4.3 makes (its Group send "
                "repeats the first two per member; the project's layer, redis_layer/layer.py, may do less), against a "
                "private redis-server:", "")
        doc.table(["command", "µs per call, 1 client", "calls/s, 1 client", "calls/s, 50 clients"],
                  [[row["command"], num(row["us_per_call_c1"], 1), num(row["rps_c1"], 0), num(row["rps_c50"], 0)]
                   for row in bench_["rows"]])
        doc.add("One hop's commands in series: %s µs; Redis alone could pass at most %s hops/s." % (
            num(bench_["hop_us"], 0), num(bench_["hops_per_s"], 0)), "")
    else:
        doc.add("Not measured in this run.", "")

    capacity_section(doc, data)
    with open(path, "w") as handle:
        handle.write("\n".join(doc.lines).rstrip() + "\n")


def targets(doc, data):
    """Issue 13's targets, as this run measured them."""
    def value(server, database, workload, function):
        result = get(data, server, database, workload)
        try:
            return function(result) if result else None
        except (KeyError, TypeError, StopIteration):
            return None

    def at_1000(result):
        steps = [s for s in result["steps"] if abs(s["offered_deliveries_per_s"] - 1000) < 1]
        return steps[0]["p99_ms"] if steps else None

    rows = []
    for database in ("sqlite", "postgresql"):
        mine = value("project", database, "w1", lambda r: r["sustained"])
        peer = value("peer", database, "w1", lambda r: r["sustained"])
        capped = value("project", database, "w1", is_capped)
        peer_capped = value("peer", database, "w1", is_capped)
        met = "missing" if mine is None or peer is None else mine >= 1.5 * peer
        if met is False and capped:
            met = None  # the project passed every step offered: its limit was not reached
        if met is True and peer_capped:
            met = None  # nor was the peer's
        rows.append(["W1 sustained ≥ 1.5 × the peer's (%s)" % database, "%s%s vs %s%s d/s (%s)" % (
            "≥ " if capped else "", num(mine, 0), "≥ " if peer_capped else "", num(peer, 0), ratio(mine, peer)),
            verdict(met)])
    w0 = value("project", "sqlite", "w0", lambda r: r["p50_ms"])
    rows.append(["W0 median ≤ 5 ms", "%s ms (peer %s)" % (num(w0), num(value("peer", "sqlite", "w0",
                                                                              lambda r: r["p50_ms"]))),
                 verdict("missing" if w0 is None else w0 <= 5)])
    p99 = value("project", "sqlite", "w1", at_1000)
    rows.append(["W1 p99 ≤ 50 ms at 1,000 deliveries/s", "%s ms" % num(p99), verdict("missing" if p99 is None else p99 <= 50)])
    hs = value("project", "sqlite", "handshake", lambda r: r["p50_ms"])
    rows.append(["handshake median ≤ 5 ms, one at a time", "%s ms (peer %s)" % (
        num(hs), num(value("peer", "sqlite", "handshake", lambda r: r["p50_ms"]))),
        verdict("missing" if hs is None else hs <= 5)])
    w5 = get(data, "project", "sqlite", "w5")
    if w5:
        last = w5.get("all_caught_up_s")
        rows.append(["W5: 2,000 sockets back and caught up within 4 s",
                     "%d sockets: %s s (%d caught up)" % (w5["sockets"], num(last, 2), w5["caught_up"]),
                     verdict(judge(last is not None and last <= 4, w5["sockets"] >= 2000))])
    w3 = get(data, "project", "sqlite", "w3")
    if w3:
        ok = w3["lost"] == 0 and (w3["p99_ms"] or 1e9) < 250
        rows.append(["W3: every one of 1,000 sockets gets every message, p99 < 250 ms",
                     "%d sockets, %s%% delivered, p99 %s ms" % (
                         w3["sockets"], num(100 * (w3["delivered_fraction"] or 0)), num(w3["p99_ms"])),
                     verdict(judge(ok, w3["sockets"] >= 1000))])
    w4 = get(data, "project", "sqlite", "w4")
    if w4:
        rows.append(["W4: 5,000 idle sockets, idle CPU < 2 % of a core",
                     "%d sockets, %s KiB each in Daphne, idle %s%%" % (
                         w4["opened"], num(w4["bytes_per_socket"] / 1024.0), num(w4["idle_core_percent"], 2)),
                     verdict(judge(w4["idle_core_percent"] < 2, w4["opened"] >= 5000))])
    doc.add("## Issue 13's targets in this run", "")
    doc.table(["target", "measured (this project)", "met?"], rows)
    doc.add("\"not at full size\": the run was smaller than the target's size (a quick run), or stopped "
            "stepping before the limit was found (≥: every step offered passed), so it neither meets nor misses "
            "it.", "")


def judge(ok, full_size):
    """A miss at a smaller size is a miss; a pass at a smaller size says nothing."""
    return ok if full_size or not ok else None


def verdict(met):
    return {True: "yes", False: "**no**", None: "not at full size", "missing": "not measured"}[met]
