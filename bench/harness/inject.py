"""
Faults caused on a running ProjectStack, each by pid and each undone before
it returns. Each blocks, and returns a note for the report.

Call them from the main thread, with the clients on a LoopThread: a process
started from a thread that later exits is sent SIGTERM (tests/support starts
every child with PR_SET_PDEATHSIG, which follows the thread that forked it),
so a Redis or Daphne restarted from an executor thread dies with it.
"""
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

from tests.support.processes import REPO_ROOT, ProcessError

from bench.harness import deps
from bench.harness.addresses import address

FLOOD_HANDLE = "flood"
# The flooders' addresses, apart from the people's (which count up from 1).
FLOOD_ADDRESSES = 90000


class LoopThread:
    """An event loop in a thread of its own, for clients that go on while the main thread
    causes faults; run() calls a function on it and returns what it returned."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="clients", daemon=True)
        self.thread.start()

    def call(self, coroutine, timeout=None):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def run(self, function, *args):
        async def call():
            return function(*args)
        return self.call(call())

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def kill_worker(stack, which=0, pause=2.0):
    """SIGKILL one runworker; a replacement is started `pause` seconds later (as supervisord would)."""
    alive = [worker for worker in stack.workers if worker.alive()]
    victim = alive[which % len(alive)]
    dispatched = stack.dispatch_count(victim, "websocket.receive") if "-v" in stack.worker_args else None
    victim.kill()
    stack.workers.remove(victim)
    time.sleep(pause)
    replacement = stack.start_worker()
    return "SIGKILL pid %d%s, replacement pid %d" % (
        victim.pid, "" if dispatched is None else " (after %d websocket.receive)" % dispatched, replacement.pid)


def restart_redis(stack, pause=3.0):
    """Stop redis-server, start a new empty one on the same port `pause` seconds later."""
    redis = stack.restart_redis(pause)
    return "new redis-server pid %d" % redis.pid


@contextlib.contextmanager
def frozen(processes):
    """SIGSTOP the processes for the block; SIGCONT always."""
    processes = [process for process in processes if process.alive()]
    for process in processes:
        os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            os.kill(process.pid, signal.SIGCONT)


def freeze_redis(stack, seconds=10.0):
    with frozen([stack.redis]):
        time.sleep(seconds)
    return "redis-server pid %d stopped %g s" % (stack.redis.pid, seconds)


def restart_postgres(stack, pause=3.0):
    """PostgreSQL fast shutdown (open connections cut, as in a crash), started again `pause` s later."""
    if stack.postgres is None:
        raise ProcessError("the stack runs on SQLite")
    stack.postgres.stop()
    time.sleep(pause)
    stack.postgres.start()
    stack._roles["postgres"] = (stack.postgres.process.pid, True)
    return "new postgres pid %d" % stack.postgres.process.pid


def kill_daphne(stack, pause=2.0):
    """SIGKILL Daphne, start it again on its port `pause` seconds later (once it serves a page)."""
    daphne = stack.kill_and_restart_daphne(pause)
    return "new Daphne pid %d" % daphne.pid


def flood(stack, label, seconds=10.0, number=0):
    """A child process (its busy loop would starve the clients' event loop) sends chat frames to
    the room as fast as it can for `seconds`, reconnecting at once whenever closed, from the
    number-th flooder address (an address's budgets remember its earlier floods). Returns its
    counts: frames, sockets opened, closed, refused, its CPU seconds."""
    flooder = stack.group.start("flooder", [sys.executable, "-m", "bench.harness.inject", stack.socket_url(label),
                                            address(FLOOD_ADDRESSES + number), "%g" % seconds],
                                env=dict(os.environ, PYTHONPATH=REPO_ROOT), cwd=REPO_ROOT)
    try:
        flooder.popen.wait(seconds + 30)
    except subprocess.TimeoutExpired:
        raise ProcessError("the flooder did not stop on its own\n" + flooder.describe())
    finally:
        flooder.stop()
    try:
        return json.loads(flooder.log_text().strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise ProcessError("the flooder reported nothing\n" + flooder.describe())


async def _flood(url, source, seconds):
    import collections

    import websockets
    from websockets.asyncio.client import connect

    stats = collections.Counter()
    frame = json.dumps({"handle": FLOOD_HANDLE, "message": "spam"})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            ws = await connect(url, local_addr=(source, 0), ping_interval=None, compression=None, open_timeout=5,
                               close_timeout=1)
        except Exception:
            stats["refused"] += 1
            await asyncio.sleep(0.01)
            continue
        stats["opened"] += 1
        try:
            while time.monotonic() < deadline:
                await ws.send(frame)
                stats["frames"] += 1
                if stats["frames"] % 100 == 0:
                    await asyncio.sleep(0)  # let the reader see a close
        except (websockets.ConnectionClosed, OSError):
            stats["closed"] += 1
        finally:
            ws.transport.abort()
    stats["cpu"] = round(time.process_time(), 2)
    return dict(stats)


if __name__ == "__main__":
    deps.ensure()
    print(json.dumps(asyncio.run(_flood(sys.argv[1], sys.argv[2], float(sys.argv[3])))), flush=True)
