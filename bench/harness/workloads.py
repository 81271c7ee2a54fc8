"""
The workloads of issue 13, each a short scenario on the client and a stack.
Every one returns a dict of plain numbers (for the report) and prints a line
per step. Sizes come from a Sizes (quick or full).
"""
import asyncio
import collections
import os
import subprocess
import time

from bench.harness.client import LoadClient, message_ids_after, percentile, senders_across_rooms
from bench.harness.measure import Meter


class Sizes:
    """How big and how long each workload is: quick (< 5 minutes in all) or full."""

    def __init__(self, quick):
        self.quick = quick
        self.w0_seconds = 4 if quick else 30
        self.step_seconds = 3 if quick else 10
        self.pause_seconds = 0.3 if quick else 2
        self.drain_seconds = 3 if quick else 5
        # Offered deliveries a second, stepped until loss, a closed socket or p99 > 100 ms.
        self.w1_steps = [500, 1000, 1500, 2000, 3000] if quick else \
            [250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000]
        self.w1_large = (100, 10) if not quick else (30, 10)
        self.w1_large_steps = [500, 1000] if quick else self.w1_steps
        self.w2 = (10, 100) if not quick else (10, 30)
        self.w2_steps = [500, 1000] if quick else [500, 1000, 1500, 2000, 3000, 4000]
        self.w3_sockets = 1000 if not quick else 200
        self.w3_seconds = 5 if quick else 30
        self.w4_sockets = 5000 if not quick else 500
        self.w4_idle_seconds = 5 if quick else 60
        self.w5_sockets = 2000 if not quick else 300
        self.handshakes = 200 if not quick else 30
        self.p99_limit_ms = 100.0


def log(text):
    print("    " + text, flush=True)


def fmt_step(summary):
    def ms(value):
        return "-" if value is None else "%.1f" % value
    return ("offered %5.0f d/s: delivered %d/%d, p50 %s p99 %s max %s ms, %s d/s, closed %s, errors %s, lag %.0f ms"
            % (summary["offered_deliveries_per_s"], summary["delivered"], summary["expected"], ms(summary["p50_ms"]),
               ms(summary["p99_ms"]), ms(summary["max_ms"]),
               "%.0f" % summary["deliveries_per_s"] if summary["deliveries_per_s"] else "-",
               summary["closed"] or 0, summary["errors"] or 0, summary["max_send_lag_ms"])
            + (", %d logged as not sent" % summary["logged_drops"] if summary.get("logged_drops") else ""))


async def step(client, stack, senders, rate, seconds, drain):
    """One open-loop phase at `rate` messages a second, measured with the CPU of every process."""
    client.new_tally()
    drops = stack.broadcast_drops()
    meter = Meter(stack.roles()).start()
    await client.offer(senders, rate, seconds)
    await client.drain(drain)
    usage = meter.stop()
    summary = client.tally.summary()
    summary["logged_drops"] = stack.broadcast_drops() - drops
    summary["offered_msgs_per_s"] = rate
    summary["offered_deliveries_per_s"] = client.tally.expected / float(seconds)
    summary["cpu"] = usage.cpu
    summary["wall_seconds"] = usage.seconds
    summary["cpu_per_1000"] = usage.per_thousand(summary["delivered"])
    return summary


def passed(summary, limit_ms):
    return (summary["lost"] == 0 and not summary["closed"] and not summary["errors"] and summary["unsent"] == 0
            and not summary["logged_drops"]
            and summary["p99_ms"] is not None and summary["p99_ms"] <= limit_ms)


def labels(prefix, count):
    return ["%s-%d-%d" % (prefix, int(time.time()) % 100000, index) for index in range(count)]


async def rooms_with_sockets(client, stack, prefix, rooms, per_room, concurrency=50):
    names = labels(prefix, rooms)
    await asyncio.get_running_loop().run_in_executor(None, stack.create_rooms, names)
    conns, seconds = await client.open_sockets(names, per_room, concurrency)
    opened = sum(1 for conn in conns if conn.open)
    log("%d x %d sockets: %d open in %.1f s (%.0f handshakes/s), failures %s"
        % (rooms, per_room, opened, seconds, opened / seconds if seconds else 0, dict(client.connect_failures)))
    # Presence and the handshake's own frames settle before measuring.
    await asyncio.sleep(1.5 if stack.has_presence else 0.2)
    return conns, {"sockets": len(conns), "opened": opened, "open_seconds": seconds,
                   "handshakes_per_s": opened / seconds if seconds else None,
                   "connect_failures": dict(client.connect_failures)}


async def w0(stack, sizes):
    """W0: the latency floor, 1 room x 2 sockets, 5 messages a second."""
    client = LoadClient(stack)
    conns, opened = await rooms_with_sockets(client, stack, "w0", 1, 2)
    summary = await step(client, stack, conns, 5, sizes.w0_seconds, sizes.drain_seconds)
    log(fmt_step(summary))
    await client.close_all()
    return dict(summary, **opened)


async def stepped(stack, sizes, prefix, rooms, per_room, steps):
    """Step the offered deliveries a second until loss, a closed socket, an error or p99 over the limit."""
    client = LoadClient(stack)
    conns, opened = await rooms_with_sockets(client, stack, prefix, rooms, per_room)
    senders = senders_across_rooms([conn for conn in conns if conn.open])
    results, sustained = [], None
    plan, down = list(steps), False
    while plan:
        deliveries = plan.pop(0)
        rate = deliveries / float(per_room)
        if rate / len(senders) > 4.5:
            log("offered %d d/s would need %.1f frames/s per socket, over the 5/s budget: stop" % (
                deliveries, rate / len(senders)))
            break
        summary = await step(client, stack, senders, rate, sizes.step_seconds, sizes.drain_seconds)
        summary["ok"] = passed(summary, sizes.p99_limit_ms)
        if not summary["ok"] and not summary["closed"] and client.open_count() == len(senders):
            # Once more after a pause: on shared cores one hiccup must not end the series.
            log(fmt_step(summary) + "  <- once more")
            await asyncio.sleep(2 * sizes.pause_seconds + 1)
            first = summary
            summary = await step(client, stack, senders, rate, sizes.step_seconds, sizes.drain_seconds)
            summary["ok"] = passed(summary, sizes.p99_limit_ms)
            summary["first_attempt"] = {key: first[key] for key in ("delivered", "expected", "p50_ms", "p99_ms",
                                                                    "max_ms", "errors", "closed")}
        results.append(summary)
        if not summary["ok"] and sustained is None and deliveries / 2.0 >= 60:
            # The first step failed: a limit of 0 says nothing, so half of it, and so on.
            log(fmt_step(summary) + "  <- step down")
            plan, down = [deliveries / 2.0], True
            await asyncio.sleep(2 * sizes.pause_seconds + 1)
            continue
        log(fmt_step(summary) + ("" if summary["ok"] else "  <- limit"))
        if not summary["ok"]:
            break
        sustained = summary
        if down:
            break
        await asyncio.sleep(sizes.pause_seconds)
    await client.close_all()
    return {"rooms": rooms, "per_room": per_room, "steps": results, "opened": opened,
            "sustained": sustained["offered_deliveries_per_s"] if sustained else 0,
            "sustained_step": sustained,
            # Every step passed: the sustained rate is at least this, not this.
            "capped": bool(results) and all(summary["ok"] for summary in results)}


async def w1(stack, sizes):
    return await stepped(stack, sizes, "w1", 10, 10, sizes.w1_steps)


async def w1_large(stack, sizes):
    rooms, per_room = sizes.w1_large
    return await stepped(stack, sizes, "w1l", rooms, per_room, sizes.w1_large_steps)


async def w2(stack, sizes):
    rooms, per_room = sizes.w2
    return await stepped(stack, sizes, "w2", rooms, per_room, sizes.w2_steps)


async def w3(stack, sizes):
    """W3: one room of many sockets, 1 message a second."""
    client = LoadClient(stack)
    conns, opened = await rooms_with_sockets(client, stack, "w3", 1, sizes.w3_sockets)
    senders = [conn for conn in conns if conn.open]
    summary = await step(client, stack, senders, 1.0, sizes.w3_seconds, max(sizes.drain_seconds, 10))
    log(fmt_step(summary))
    await client.close_all()
    return dict(summary, **opened)


async def handshakes(stack, sizes):
    """Sockets opened one after another: each handshake's time, and its CPU."""
    client = LoadClient(stack)
    room = labels("hs", 1)
    await asyncio.get_running_loop().run_in_executor(None, stack.create_rooms, room)
    times = []
    meter = Meter(stack.roles()).start()
    started = time.monotonic()
    for _ in range(sizes.handshakes):
        begin = time.monotonic()
        conns, _ = await client.open_sockets(room, 1, 1)
        if conns[0].open:
            times.append(time.monotonic() - begin)
    total = time.monotonic() - started
    usage = meter.stop()
    await client.close_all()
    result = {"count": sizes.handshakes, "opened": len(times), "total_seconds": total,
              "p50_ms": percentile([t * 1000 for t in times], 0.5), "p90_ms": percentile([t * 1000 for t in times], 0.9),
              "max_ms": max(times) * 1000 if times else None, "cpu": usage.cpu,
              "cpu_per_handshake_ms": {name: 1000.0 * value / max(1, len(times)) for name, value in usage.cpu.items()},
              "failures": dict(client.connect_failures)}
    log("%d handshakes one at a time: median %.1f ms, p90 %.1f ms, %.1f s in all"
        % (len(times), result["p50_ms"] or 0, result["p90_ms"] or 0, total))
    return result


async def w4(stack, sizes):
    """W4: many idle sockets on one Daphne: memory per socket, idle CPU of the whole stack."""
    client = LoadClient(stack)
    meter = Meter(stack.roles())
    # A few sockets first, so that what every first socket loads is not counted per socket.
    warm, _ = await rooms_with_sockets(client, stack, "w4warm", 1, 20)
    await client.close_all(warm)
    await asyncio.sleep(1.0)
    before = meter.rss()
    rooms = max(1, sizes.w4_sockets // 100)
    conns, opened = await rooms_with_sockets(client, stack, "w4", rooms, sizes.w4_sockets // rooms, concurrency=100)
    await asyncio.sleep(1.0 if sizes.quick else 3.0)
    after = meter.rss()
    meter.start()
    await asyncio.sleep(sizes.w4_idle_seconds)
    usage = meter.stop()
    still = client.open_count()
    count = opened["opened"] or 1
    front = "daphne" if "daphne" in before else "server"
    result = dict(opened, rss_before=before, rss_after=after,
                  bytes_per_socket=(after[front] - before[front]) / float(count),
                  stack_rss_per_socket=(sum(v for k, v in after.items() if k != "client")
                                        - sum(v for k, v in before.items() if k != "client")) / float(count),
                  idle_seconds=usage.seconds, idle_cpu=usage.cpu,
                  idle_core_percent=100.0 * usage.server_total() / usage.seconds,
                  still_open=still, closed=dict(client.closed_by_server))
    log("%d idle sockets: %s %.1f KiB/socket, whole stack %.1f KiB/socket; idle CPU %.2f%% of a core; %d still open"
        % (count, front, result["bytes_per_socket"] / 1024, result["stack_rss_per_socket"] / 1024,
           result["idle_core_percent"], still))
    await client.close_all()
    return result


async def w5(stack, sizes):
    """W5: a reconnect storm: every socket of one room dropped at once reconnects with ?after=."""
    client = LoadClient(stack)
    conns, opened = await rooms_with_sockets(client, stack, "w5", 1, sizes.w5_sockets, concurrency=100)
    room = conns[0].room
    live = [conn for conn in conns if conn.open]
    for conn in live:
        conn.seen = set()
    client.new_tally()
    for conn in live[:5]:
        client.send(conn)
    await client.drain(15)
    for conn in live:
        conn.drop()
    await asyncio.sleep(1.0)
    # Messages they miss while away: from one more socket (its own address).
    sender_conns, _ = await client.open_sockets([room], 1, 1)
    sender = sender_conns[0]
    sender.seen = set()
    for _ in range(10):
        client.send(sender, expected=1)
    deadline = time.monotonic() + 15
    while len(sender.seen) < 10 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    target = set(sender.seen)
    client.new_tally()  # from here on: the storm's error frames and closes
    meter = Meter(stack.roles()).start()
    started = time.monotonic()
    failures_before = sum(client.connect_failures.values())
    deadline = started + (60 if not sizes.quick else 30)
    storm = asyncio.ensure_future(client.connect_all(live, concurrency=len(live), after=lambda c: c.last_id,
                                                     retry_until=deadline))
    caught = {}
    fetches = []  # the HTTP API fetches of catch-ups cut short (catchup_truncated)
    loop = asyncio.get_running_loop()

    async def fetch_rest(conn, after):
        conn.seen.update(await loop.run_in_executor(None, message_ids_after, stack.http_port, conn, after))

    while time.monotonic() < deadline:
        now = time.monotonic()
        for conn in live:
            if conn.fetch_after is not None:
                after, conn.fetch_after = conn.fetch_after, None
                fetches.append(asyncio.ensure_future(fetch_rest(conn, after)))
        for conn in live:
            if id(conn) not in caught and conn.open and target <= conn.seen:
                caught[id(conn)] = now - started
        if len(caught) == len(live) or (storm.done() and not any(conn.open for conn in live if id(conn) not in caught)):
            break
        await asyncio.sleep(0.02)
    await storm
    for fetch in fetches:
        fetch.cancel()
    usage = meter.stop()
    open_times = [conn.opened_at - started for conn in live if conn.open and conn.opened_at >= started]
    done = sorted(caught.values())
    result = dict(opened, sockets=len(live), reconnected=len(open_times), caught_up=len(done),
                  missed=len(target) and len(live) - len(done), target_messages=len(target),
                  all_open_s=max(open_times) if len(open_times) == len(live) else None,
                  open_p50_s=percentile(open_times, 0.5), caught_p50_s=percentile(done, 0.5),
                  all_caught_up_s=done[-1] if len(done) == len(live) else None,
                  last_caught_up_s=done[-1] if done else None,
                  failures=sum(client.connect_failures.values()) - failures_before,
                  fetched_over_http=len(fetches),
                  never_back=sum(1 for conn in live if not conn.open),
                  failure_kinds=dict(client.connect_failures), cpu=usage.cpu,
                  closed=dict(client.closed_by_server), storm_errors=dict(client.tally.errors),
                  storm_closed=dict(client.tally.closed))
    log("%d sockets dropped, %d back (last at %s s, p50 %s s), %d caught up (all by %s s, p50 %s s), failures %s, "
        "error frames %s, closed %s"
        % (len(live), len(open_times), _s(result["all_open_s"]), _s(result["open_p50_s"]), len(done),
           _s(result["all_caught_up_s"]), _s(result["caught_p50_s"]), result["failure_kinds"],
           result["storm_errors"], result["storm_closed"]))
    await client.close_all()
    return result


def _s(value):
    return "-" if value is None else "%.2f" % value


def redis_benchmark(group, quick=False):
    """The floor: the Redis commands one channel-layer hop of asgi_redis 1.4 makes, timed by redis-benchmark."""
    from asgi_redis.core import RedisChannelLayer
    from tests.support.redis_server import start_redis
    _, port = start_redis(group)
    base = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q", "--csv"]
    commands = collections.OrderedDict([
        ("send (Lua: LLEN SET EXPIRE RPUSH EXPIRE)",
         ["EVAL", RedisChannelLayer.lua_chansend, "2", "bench:msg", "bench:chan", "payload" * 30, "60", "1000000000"]),
        ("statistics (Lua: INCR EXPIRE x2)",
         ["EVAL", RedisChannelLayer.lua_incrstatcounters, "2", "bench:s1", "bench:s2", "60", "60"]),
        ("receive (Lua: LPOP)", ["EVAL", RedisChannelLayer.lua_lpopmany, "1", "bench:chan"]),
        ("GET the message", ["GET", "bench:msg"]),
        ("DEL the message", ["DEL", "bench:msg"]),
    ])
    rows = []
    for name, command in commands.items():
        row = {"command": name}
        for clients, requests in ((1, 10000), (50, 30000)) if quick else ((1, 20000), (50, 100000)):
            out = subprocess.run(base + ["-c", str(clients), "-n", str(requests)] + command,
                                 capture_output=True, text=True, timeout=120).stdout
            line = [part.strip('"') for part in out.strip().splitlines()[-1].split(",")]
            rps = float(line[1])
            row["rps_c%d" % clients] = rps
        row["us_per_call_c1"] = 1e6 / row["rps_c1"]
        rows.append(row)
    version = subprocess.run(["redis-benchmark", "--version"], capture_output=True, text=True).stdout.strip()
    hop = sum(row["us_per_call_c1"] for row in rows)
    hops_per_s = 1e6 / sum(1e6 / row["rps_c50"] for row in rows)
    log("redis-benchmark: one hop's commands %.0f us in series (1 client); at most %.0f hops/s (50 clients)"
        % (hop, hops_per_s))
    return {"rows": rows, "hop_us": hop, "hops_per_s": hops_per_s, "version": version}
