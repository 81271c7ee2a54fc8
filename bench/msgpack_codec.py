"""
Pure-Python msgpack 0.5.6 against compiled msgpack 1.x, in the codec and in
the Redis channel layer, side by side in one run.

    .venv/bin/python bench/msgpack_codec.py            # full run, about a minute
    .venv/bin/python bench/msgpack_codec.py --quick    # smoke check, a few seconds

Why: asgi_redis 1.4.3 serializes every channel message with
`msgpack.packb(message, use_bin_type=True)` and reads it back with
`msgpack.unpackb(message, encoding="utf8")`. msgpack 1.0 removed `encoding=`,
so the stock layer needs msgpack < 1.0; the one it declares, msgpack-python
0.5.6, has no C extension on Python 3.11 and runs `msgpack.fallback`. This
benchmark shows what that costs next to what a channel-layer hop costs anyway.

How: the parent installs compiled msgpack (MSGPACK_COMPILED, a cp311 wheel)
into a private temporary directory (never into the venv), starts a private
redis-server on a free 127.0.0.1 port, and runs this same file twice as a
long-lived child, one per variant:
  fallback  the venv as it is: msgpack-python 0.5.6, pure Python, the stock
            asgi_redis.RedisChannelLayer;
  compiled  PYTHONPATH=<tmp> so `import msgpack` is msgpack 1.x with its C
            extension, and a RedisChannelLayer subclass whose deserialize uses
            `unpackb(raw=False)` (the stock one raises TypeError there).
It then asks the two children for samples in turn (one JSON line each), so
the noise of the shared machine falls on both alike, prints the table with
ratios and writes it to bench/results/msgpack_codec.txt. The children, the
redis-server and the temporary directory are removed in a finally block.
"""
import argparse
import datetime
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_OUTPUT = os.path.join(HERE, "results", "msgpack_codec.txt")

# A version with a cp311 manylinux wheel on PyPI, so no compiler is needed.
MSGPACK_COMPILED = "msgpack==1.1.0"
VARIANTS = ("fallback", "compiled")
FANOUT_SOCKETS = 50  # sockets in one room; all on one Daphne process


# ---------------------------------------------------------------------------
# The messages, as the layer serializes them
# ---------------------------------------------------------------------------

def _letters(rng, n):
    return "".join(rng.choice(string.ascii_letters) for _ in range(n))


def build_messages():
    """
    name -> (description, message dict exactly as asgi_redis serializes it).

    Shapes follow daphne 1.4.2 (http_protocol.py, ws_protocol.py) and this
    project's consumers: Daphne's reply channels are
    "daphne.response.<process id>!<socket id>", 10 letters each.
    """
    rng = random.Random(1)
    process_channel = "daphne.response.%s!" % _letters(rng, 10)
    reply_channel = process_channel + _letters(rng, 10)
    # A client frame as docs/protocol.md defines it, ~120 characters.
    client_frame = json.dumps({
        "handle": "alice",
        "message": "Is everyone in the lobby for the 5pm sync? I have the slides ready, see you there.",
    })
    # What chat.consumers sends to the room's Group: Message.as_dict() as JSON.
    broadcast_frame = json.dumps({
        "type": "message",
        "id": 123,
        "room": "lobby",
        "handle": "alice",
        "message": "Is everyone in the lobby for the 5pm sync? I have the slides ready, see you there.",
        "timestamp": "2026-11-21T04:51:05.100977+00:00",
    })
    headers = [
        [b"host", b"chat.example.com"],
        [b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"],
        [b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
        [b"accept-language", b"en-US,en;q=0.5"],
        [b"accept-encoding", b"gzip, deflate, br, zstd"],
        [b"referer", b"https://chat.example.com/"],
        [b"connection", b"keep-alive"],
        [b"cookie", b"csrftoken=Vq3mXk9PZ2yT8LwR4nB6cJ1hF0sD7gA5; sessionid=k2x9w8v7u6t5s4r3q2p1o0n9m8l7"],
        [b"upgrade-insecure-requests", b"1"],
        [b"x-forwarded-for", b"203.0.113.17"],
        [b"x-forwarded-proto", b"https"],
    ]
    return {
        "websocket.receive": (
            "websocket.receive (Daphne -> worker, one chat frame)",
            {
                "reply_channel": reply_channel,
                "path": "/chat/lobby/",
                "order": 17,
                "text": client_frame,
            },
        ),
        "broadcast": (
            "broadcast frame (worker -> one socket of the Group)",
            {
                "text": broadcast_frame,
                # The layer adds this key to every message for a "!" channel.
                "__asgi_channel__": reply_channel,
            },
        ),
        "http.request": (
            "http.request (Daphne -> worker, GET a room page)",
            {
                "reply_channel": process_channel + _letters(rng, 10),
                "http_version": "1.1",
                "method": "GET",
                "path": "/lobby/",
                "root_path": "",
                "scheme": "http",
                "query_string": b"",
                "headers": headers,
                "body": b"",
                "client": ["127.0.0.1", 51234],
                "server": ["127.0.0.1", 8000],
            },
        ),
    }, process_channel


# ---------------------------------------------------------------------------
# Child: one variant, kept alive; the parent asks it for one sample at a time
# ---------------------------------------------------------------------------

def make_layer_class(variant):
    import asgi_redis
    import msgpack

    if variant == "fallback":
        return asgi_redis.RedisChannelLayer

    class CompiledMsgpackRedisChannelLayer(asgi_redis.RedisChannelLayer):
        """The stock layer with the one change msgpack >= 1.0 needs."""

        def deserialize(self, message):
            if self.crypter:
                message = self.crypter.decrypt(message, self.expiry + 10)
            return msgpack.unpackb(message, raw=False)

    return CompiledMsgpackRedisChannelLayer


class Child(object):
    def __init__(self, variant, redis_port, codec_seconds):
        import msgpack

        compiled = msgpack.Packer.__module__ != "msgpack.fallback"
        if compiled != (variant == "compiled"):
            raise SystemExit(
                "variant %s imported msgpack %s from %s (Packer in %s): wrong msgpack"
                % (variant, msgpack.version, msgpack.__file__, msgpack.Packer.__module__))
        # Exactly the calls the layer makes (stock for 0.5.6, the subclass for 1.x).
        unpack_kwargs = {"raw": False} if msgpack.version >= (1, 0, 0) else {"encoding": "utf8"}
        self.messages, self.process_channel = build_messages()
        self.info = {
            "variant": variant,
            "msgpack_version": ".".join(str(p) for p in msgpack.version),
            "msgpack_file": msgpack.__file__,
            "packer_module": msgpack.Packer.__module__,
            "compiled": compiled,
            "unpack_call": "unpackb(b, %s)" % ", ".join("%s=%r" % kv for kv in unpack_kwargs.items()),
            "packed_bytes": {},
        }

        # (a) the codec alone: one timeit.Timer per message, each repeat ~codec_seconds.
        self.codec = {}
        for name, (_, message) in self.messages.items():
            def roundtrip(message=message, packb=msgpack.packb, unpackb=msgpack.unpackb):
                return unpackb(packb(message, use_bin_type=True), **unpack_kwargs)

            if roundtrip() != message:
                raise AssertionError("codec round trip changed %s: %r" % (name, roundtrip()))
            timer = timeit.Timer(roundtrip)
            number = 1
            while True:
                took = timer.timeit(number)
                if took >= codec_seconds / 4:
                    number = max(1, int(number * codec_seconds / took))
                    break
                number *= 4
            self.codec[name] = (timer, number)
            self.info["packed_bytes"][name] = len(msgpack.packb(message, use_bin_type=True))

        import asgi_redis

        host = "redis://127.0.0.1:%d/0" % redis_port
        # Own key prefixes: both children share the one private redis-server.
        kwargs = dict(hosts=[host], prefix="asgi-%s:" % variant,
                      stats_prefix="asgi-meta-%s:" % variant,
                      connection_kwargs={"socket_timeout": 10})
        # What the stock layer does with this msgpack: the reason for the subclass.
        stock = asgi_redis.RedisChannelLayer(**kwargs)
        try:
            stock.deserialize(stock.serialize({"text": "x"}))
            self.info["stock_layer"] = "works"
        except Exception as e:  # noqa: BLE001 - reported, not handled
            self.info["stock_layer"] = "deserialize raises %s: %s" % (type(e).__name__, e)

        layer_class = make_layer_class(variant)
        self.info["layer_class"] = layer_class.__name__
        # The project's settings: expiry 60, capacity 100.
        self.layer = layer_class(expiry=60, capacity=100, **kwargs)
        self.layer.flush()

        # (b) one hop: Daphne sends websocket.receive, a worker receives it.
        self.ws_message = dict(self.messages["websocket.receive"][1])
        self.hop(200)  # warm up connections and the script cache
        self.layer.send("websocket.receive", self.ws_message)
        channel, got = self.layer.receive(["websocket.receive"])
        if channel != "websocket.receive" or got != self.ws_message:
            raise AssertionError("layer round trip changed the message: %r %r" % (channel, got))

        # (c) fan-out: the room's Group with FANOUT_SOCKETS sockets of one Daphne
        # process. group_add happens once per socket at connect: set up here.
        rng = random.Random(2)
        self.group = "chat.room.1"
        self.members = set()
        for _ in range(FANOUT_SOCKETS):
            reply_channel = self.process_channel + _letters(rng, 10)
            self.members.add(reply_channel)
            self.layer.group_add(self.group, reply_channel)
        self.broadcast = dict(self.messages["broadcast"][1])
        del self.broadcast["__asgi_channel__"]  # the layer adds it per member
        got, seen = self.one_broadcast()
        if got != self.broadcast or set(seen) != self.members:
            raise AssertionError("fan-out delivered the wrong messages")
        self.fanout(2)

    def hop(self, count, clock=time.perf_counter):
        send, receive, message = self.layer.send, self.layer.receive, self.ws_message
        channels = ["websocket.receive"]
        start = clock()
        for _ in range(count):
            send("websocket.receive", message)
            channel, got = receive(channels)
            if got is None:
                raise AssertionError("a sent message was not received")
        return (clock() - start) / count

    def one_broadcast(self):
        self.layer.send_group(self.group, self.broadcast)
        receive, listen, seen = self.layer.receive, [self.process_channel], []
        for _ in range(FANOUT_SOCKETS):
            channel, got = receive(listen)
            if got is None:
                raise AssertionError("fan-out lost a message (%d received)" % len(seen))
            seen.append(channel)
        return got, seen

    def fanout(self, broadcasts, clock=time.perf_counter):
        start = clock()
        for _ in range(broadcasts):
            self.one_broadcast()
        return (clock() - start) / (broadcasts * FANOUT_SOCKETS)

    def codec_in_place(self, run, arg, messages):
        """
        Run hop() or fanout() with the layer's own serialize and deserialize
        timed where they are called; returns their seconds per message, less
        what the timing itself adds.
        """
        layer, pc, spent = self.layer, time.perf_counter, [0.0]
        serialize, deserialize = layer.serialize, layer.deserialize

        def timed_serialize(message):
            t = pc()
            value = serialize(message)
            spent[0] += pc() - t
            return value

        def timed_deserialize(message):
            t = pc()
            value = deserialize(message)
            spent[0] += pc() - t
            return value

        layer.serialize, layer.deserialize = timed_serialize, timed_deserialize
        try:
            run(arg)
        finally:
            del layer.serialize, layer.deserialize
        return spent[0] / messages - 2 * self.timing_overhead()

    def timing_overhead(self):
        """What one timed call of a function that does nothing adds up to."""
        if not hasattr(self, "_timing_overhead"):
            pc, spent, nothing = time.perf_counter, [0.0], (lambda value: value)
            for _ in range(3):
                spent[0] = 0.0
                for _ in range(20000):
                    t = pc()
                    nothing(None)
                    spent[0] += pc() - t
            self._timing_overhead = spent[0] / 20000
        return self._timing_overhead

    def sample(self, command):
        """One sample, in microseconds per message."""
        what, in_place = command["what"], command.get("in_place", False)
        # "cpu": this process's CPU time (redis-server's excluded) instead of wall time.
        clock = time.process_time if command.get("cpu") else time.perf_counter
        if what == "codec":
            timer, number = self.codec[command["name"]]
            return timer.timeit(number) / number * 1e6
        if what == "hop":
            count = command["count"]
            if in_place:
                return self.codec_in_place(self.hop, count, count) * 1e6
            return self.hop(count, clock) * 1e6
        if what == "fanout":
            broadcasts = command["broadcasts"]
            if in_place:
                return self.codec_in_place(
                    self.fanout, broadcasts, broadcasts * FANOUT_SOCKETS) * 1e6
            return self.fanout(broadcasts, clock) * 1e6
        raise ValueError(what)


def run_child(args):
    child = Child(args.child, args.redis_port, args.codec_seconds)
    print(json.dumps(child.info), flush=True)
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if command["what"] == "quit":
                break
            print(json.dumps({"us": child.sample(command)}), flush=True)
    finally:
        child.layer.flush()


# ---------------------------------------------------------------------------
# Parent: install, start redis, drive both children in turn, report
# ---------------------------------------------------------------------------

def free_port():
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != 6379:  # the machine's own redis; never ours
            return port


def pin_to(cpu):
    """A preexec_fn that keeps the new process on one CPU (None: anywhere)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def start_redis(workdir, cpu):
    """A private redis-server; returns (Popen, port). Retries if the port was taken."""
    binary = shutil.which("redis-server")
    if not binary:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    import redis

    for _ in range(3):
        port = free_port()
        with open(os.path.join(workdir, "redis-%d.log" % port), "wb") as log:
            proc = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--dir", workdir],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=pin_to(cpu),
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping():
                    return proc, port
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        stop_process(proc)
    raise SystemExit("could not start redis-server; see its logs in %s" % workdir)


def stop_process(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def install_compiled_msgpack(target):
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-deps", "--only-binary=:all:", "--target", target, MSGPACK_COMPILED]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise SystemExit("could not install %s:\n%s\n%s"
                         % (MSGPACK_COMPILED, " ".join(cmd), done.stdout))


class ChildProcess(object):
    """This file run as --child VARIANT; answers one JSON line per request."""

    def __init__(self, variant, site_dir, port, args, cpu):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        if variant == "compiled":
            env["PYTHONPATH"] = site_dir
        self.variant = variant
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", variant,
             "--redis-port", str(port), "--codec-seconds", str(args.codec_seconds)],
            env=env, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            preexec_fn=pin_to(cpu),
        )
        self.info = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the %s child died (exit %s); its error is above"
                             % (self.variant, self.proc.wait()))
        return json.loads(line)

    def sample(self, command):
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()["us"]

    def close(self):
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write(json.dumps({"what": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        stop_process(self.proc)


def measurements(args, messages):
    """(key, label, command) for every row of the table, in order."""
    rows = []
    for name, (desc, _) in messages.items():
        rows.append((name, "codec, timeit loop: " + desc, {"what": "codec", "name": name}))
    hop = {"what": "hop", "count": max(1, args.messages // args.pairs)}
    fanout = {"what": "fanout", "broadcasts": args.broadcasts}
    rows.append(("hop_codec", "codec, timed in place in the layer: per hop",
                 dict(hop, in_place=True)))
    rows.append(("fanout_codec", "codec, timed in place in the layer: per fan-out delivery",
                 dict(fanout, in_place=True)))
    rows.append(("hop", "layer hop: send + receive of websocket.receive", hop))
    rows.append(("fanout", "layer fan-out: Group.send to %d sockets, per delivered message"
                 % FANOUT_SOCKETS, fanout))
    rows.append(("hop_cpu", "layer hop, client CPU only (process_time, no redis-server)",
                 dict(hop, cpu=True)))
    rows.append(("fanout_cpu", "layer fan-out, client CPU only, per delivered message",
                 dict(fanout, cpu=True)))
    return rows


def collect(children, args, rows):
    """
    samples[key][variant]: one list per row and variant, taken in pairs: for
    every pair, every row is sampled from both children back to back (the
    order alternating between pairs), so drift on the shared machine hits
    both variants alike and each pair can be compared on its own.
    """
    samples = {key: {v: [] for v in VARIANTS} for key, _, _ in rows}
    for k in range(args.pairs):
        order = VARIANTS if k % 2 == 0 else VARIANTS[::-1]
        for key, _, command in rows:
            for variant in order:
                samples[key][variant].append(children[variant].sample(command))
        if (k + 1) % max(1, args.pairs // 4) == 0:
            print("  pair %d/%d" % (k + 1, args.pairs), flush=True)
    return samples


def middle_half(values):
    """The 25th and 75th percentiles."""
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def report(samples, infos, args, rows, started, redis_version, install_seconds, cpu):
    out = []
    w = out.append
    w("msgpack codec benchmark: pure-Python msgpack-python 0.5.6 against compiled msgpack 1.x")
    w("date:     %s UTC" % started.strftime("%Y-%m-%d %H:%M:%S"))
    w("python:   %s (%s), %s, %d CPUs" % (platform.python_version(), sys.executable,
                                         platform.platform(), os.cpu_count() or 0))
    for v in VARIANTS:
        i = infos[v]
        w("%-9s msgpack %s, Packer in %s -> %s; layer %s with %s"
          % (v + ":", i["msgpack_version"], i["packer_module"],
             "COMPILED" if i["compiled"] else "PURE PYTHON", i["layer_class"], i["unpack_call"]))
    w("stock asgi_redis layer with msgpack %s: %s"
      % (infos["compiled"]["msgpack_version"], infos["compiled"]["stock_layer"]))
    w("redis:    %s, a private instance on 127.0.0.1, no persistence" % redis_version)
    w("pinning:  %s" % ("none (--no-pin): the scheduler places redis-server and the children"
                        if cpu is None else
                        "redis-server and both children on CPU %d (one hop = client + server "
                        "CPU time, no cross-CPU wake-ups)" % cpu))
    hop_count = dict((key, command) for key, _, command in rows)["hop"]["count"]
    w("run:      %s: %d pairs of samples per row; a codec sample ~%.2fs of timeit; a hop sample "
      "%d hops; a fan-out sample %d broadcasts to %d sockets"
      % ("--quick" if args.quick else "full", args.pairs, args.codec_seconds, hop_count,
         args.broadcasts, FANOUT_SOCKETS))
    w("          (compiled msgpack installed into a temp dir in %.1fs, not counted)" % install_seconds)
    w("")
    w("Times: microseconds per message, median of the samples. fb/comp: ratio of the medians;")
    w("paired: middle half (25th..75th percentile) of the per-pair ratios, i.e. the noise.")
    w("Only ratios within one run count: the machine's 2 cores are shared and noisy.")
    w("")
    labels = {}
    for key, label, _ in rows:
        if key in infos["fallback"]["packed_bytes"]:
            label += " [%d B]" % infos["fallback"]["packed_bytes"][key]
        labels[key] = label
    width = max(len(label) for label in labels.values())
    header = "%-*s %9s %9s %8s  %s" % (width, "measurement", "fallback", "compiled", "fb/comp",
                                       "paired")
    w(header)
    w("-" * len(header))
    med = {}
    for key, _, _ in rows:
        fb, co = samples[key]["fallback"], samples[key]["compiled"]
        med[key] = (statistics.median(fb), statistics.median(co))
        lo, hi = middle_half([f / c for f, c in zip(fb, co)])
        w("%-*s %9.1f %9.1f %7.1fx  %.2f..%.2fx" % (width, labels[key], med[key][0], med[key][1],
                                                  med[key][0] / med[key][1], lo, hi))
    w("")

    def paired_difference(key):
        diffs = [f - c for f, c in zip(samples[key]["fallback"], samples[key]["compiled"])]
        lo, hi = middle_half(diffs)
        return statistics.median(diffs), lo, hi

    for title, loop_key, place_key, wall_key, cpu_key in (
            ("one layer hop", "websocket.receive", "hop_codec", "hop", "hop_cpu"),
            ("one fan-out delivery", "broadcast", "fanout_codec", "fanout", "fanout_cpu")):
        w("%-40s %9s %9s %14s" % ("codec share of " + title, "codec us", "of wall", "of client CPU"))
        for i, variant in enumerate(VARIANTS):
            for how, key in (("timeit loop", loop_key), ("timed in place", place_key)):
                w("    %-36s %9.1f %8.1f%% %13.1f%%"
                  % ("%s, %s" % (variant, how), med[key][i], 100 * med[key][i] / med[wall_key][i],
                     100 * med[key][i] / med[cpu_key][i]))
    w("what compiled saves: median paired difference of the two layers, us and % of the fallback"
      " (middle half of the pairs)")
    saved = {}
    for label, key in (("per hop, wall time", "hop"), ("per hop, client CPU", "hop_cpu"),
                       ("per fan-out delivery, wall time", "fanout"),
                       ("per fan-out delivery, client CPU", "fanout_cpu")):
        saved[key] = paired_difference(key)
        diff, lo, hi = saved[key]
        w("    %-36s %9.1f %8.1f%%   (%.1f..%.1f us)"
          % (label, diff, 100 * diff / med[key][0], lo, hi))
    w("    predicted by the codec: per hop %.1f us in place, %.1f us timeit loop; "
      "per delivery %.1f us in place, %.1f us timeit loop"
      % (med["hop_codec"][0] - med["hop_codec"][1],
         med["websocket.receive"][0] - med["websocket.receive"][1],
         med["fanout_codec"][0] - med["fanout_codec"][1],
         med["broadcast"][0] - med["broadcast"][1]))
    w("")

    # The plain-language reading, computed from the numbers above.
    ws_fb, ws_co = med["websocket.receive"]
    http_fb, http_co = med["http.request"]
    hop_fb, hop_cpu_fb = med["hop"][0], med["hop_cpu"][0]
    hop_wall_saved, hop_cpu_saved = saved["hop"][0], saved["hop_cpu"][0]
    cost = max(hop_cpu_saved, med["hop_codec"][0] - med["hop_codec"][1])
    w("Conclusion: the pure-Python msgpack 0.5.6 codec takes %.1f us to pack and unpack one "
      "websocket.receive message in a timeit loop, %.1fx the %.1f us of compiled msgpack %s "
      "(%.0f us against %.1f us, %.0fx, for a %d-byte http.request); inside the layer, between "
      "redis-py calls, %.1f us per hop against %.1f us. One channel-layer hop (send + receive "
      "through Redis, several commands from pure-Python redis-py) takes %.0f us here with the "
      "fallback, %.0f us of it CPU in the client; the codec is %.1f%% of that hop and %.1f%% of "
      "its client CPU, and the compiled variant measured %.0f us (%.1f%%) faster per hop and "
      "%.0f us (%.1f%%) less client CPU. A room broadcast costs %.0f us per delivered message, "
      "%.0f us (%.1f%%) less with compiled. So keeping the pure-Python codec costs about %.0f us "
      "of CPU per channel message, %.1f%% of one core for every 1000 channel messages a second. "
      "Here Redis shares the client's CPU and there is no network, so a real hop takes longer and "
      "the codec's share of its time is smaller; its share of the client's CPU stays."
      % (ws_fb, ws_fb / ws_co, ws_co, infos["compiled"]["msgpack_version"],
         http_fb, http_co, http_fb / http_co, infos["fallback"]["packed_bytes"]["http.request"],
         med["hop_codec"][0], med["hop_codec"][1],
         hop_fb, hop_cpu_fb, 100 * med["hop_codec"][0] / hop_fb,
         100 * med["hop_codec"][0] / hop_cpu_fb,
         hop_wall_saved, 100 * hop_wall_saved / hop_fb,
         hop_cpu_saved, 100 * hop_cpu_saved / hop_cpu_fb,
         med["fanout"][0], saved["fanout"][0], 100 * saved["fanout"][0] / med["fanout"][0],
         cost, cost * 1000 / 1e6 * 100))
    return "\n".join(out) + "\n"


def run_parent(args):
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="msgpack-codec-bench-")
    site_dir = os.path.join(workdir, "site")
    redis_proc, children = None, {}
    # A SIGTERM unwinds through the finally block like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        print("installing %s into %s" % (MSGPACK_COMPILED, site_dir), flush=True)
        t_install = time.perf_counter()
        install_compiled_msgpack(site_dir)
        install_seconds = time.perf_counter() - t_install
        # One CPU for redis-server and both children: on this VM a hop whose two
        # ends sit on different CPUs waits for cross-CPU wake-ups, which doubles
        # it and makes it bimodal from one sample to the next (see README.md).
        cpu = None if args.no_pin else max(os.sched_getaffinity(0))
        redis_proc, port = start_redis(workdir, cpu)
        redis_version = subprocess.run(["redis-server", "--version"], stdout=subprocess.PIPE,
                                       text=True).stdout.split(" sha=")[0].strip()
        print("redis-server pid %d on 127.0.0.1:%d" % (redis_proc.pid, port), flush=True)
        for variant in VARIANTS:
            children[variant] = ChildProcess(variant, site_dir, port, args, cpu)
        print("sampling both variants in turn", flush=True)
        rows = measurements(args, build_messages()[0])
        samples = collect(children, args, rows)
        infos = {v: c.info for v, c in children.items()}
    finally:
        for child in children.values():
            child.close()
        stop_process(redis_proc)
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(samples, infos, args, rows, started, redis_version, install_seconds, cpu)
    text += "(whole run: %.0fs)\n" % (time.perf_counter() - t0)
    print()
    print(text, end="")
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        tmp = args.output + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.output)
        print("written to %s" % os.path.relpath(args.output, os.getcwd()))


def main():
    parser = argparse.ArgumentParser(
        description="Pure-Python msgpack 0.5.6 against compiled msgpack 1.x, in the codec "
                    "and in the Redis channel layer, side by side in one run.")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke check of a few seconds: few, short samples")
    parser.add_argument("--pairs", type=int,
                        help="samples per row and variant, taken in pairs (default 20; quick 4)")
    parser.add_argument("--messages", type=int,
                        help="layer hops per variant, split over the pairs (default 5000; quick 400)")
    parser.add_argument("--broadcasts", type=int,
                        help="broadcasts per fan-out sample (default 4; quick 2)")
    parser.add_argument("--no-pin", action="store_true",
                        help="let the scheduler place redis-server and the children (noisier)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT,
                        help="where to write the report ('' for nowhere); default %(default)s")
    # Set by the parent for its children.
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--redis-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--codec-seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    defaults = (dict(pairs=4, messages=400, broadcasts=2, codec_seconds=0.02) if args.quick
                else dict(pairs=20, messages=5000, broadcasts=4, codec_seconds=0.05))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.pairs < 1 or args.messages < 1 or args.broadcasts < 1:
        parser.error("--pairs, --messages and --broadcasts must be at least 1")
    if args.child:
        run_child(args)
    else:
        run_parent(args)


if __name__ == "__main__":
    main()
