"""
What each process costs, read from /proc: CPU seconds (user + system) and
resident memory. A process is named by its role ("daphne", "worker-1",
"redis", "postgres", "client", ...); a role with tree=True counts its whole
process tree (PostgreSQL's backends), including children already reaped.
"""
import os
import time

from tests.support.processes import descendants

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as handle:
        # "pid (comm) state ppid ...": comm may hold spaces.
        return handle.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid, tree=False, missing=0.0):
    """User + system CPU of `pid` (with tree: + its reaped children + live descendants);
    `missing` once the process is gone."""
    try:
        fields = _stat_fields(pid)
    except (OSError, IndexError):
        return missing
    # After ")": state=0, ..., utime=11, stime=12, cutime=13, cstime=14.
    ticks = int(fields[11]) + int(fields[12])
    if tree:
        ticks += int(fields[13]) + int(fields[14])
        for child in descendants(pid):
            try:
                child_fields = _stat_fields(child)
            except OSError:
                continue
            ticks += int(child_fields[11]) + int(child_fields[12])
    return ticks / float(CLOCK_TICKS)


def rss_bytes(pid, tree=False, missing=0):
    """Resident memory of `pid` (with tree: and its descendants); `missing` once it is gone."""
    if not os.path.exists("/proc/%d/statm" % pid):
        return missing
    pids = [pid] + (descendants(pid) if tree else [])
    total = 0
    for one in pids:
        try:
            with open("/proc/%d/statm" % one) as handle:
                total += int(handle.read().split()[1]) * PAGE
        except OSError:
            pass
    return total


class Meter:
    """CPU of a set of roles between two moments: start(), then stop() -> Usage."""

    def __init__(self, roles):
        # roles: {name: (pid, tree)}
        self.roles = dict(roles)
        self.roles.setdefault("client", (os.getpid(), False))
        self._start = None

    def snapshot(self):
        return {name: cpu_seconds(pid, tree) for name, (pid, tree) in self.roles.items()}, time.monotonic()

    def start(self):
        self._start = self.snapshot()
        return self

    def stop(self):
        (before, t0), (after, t1) = self._start, self.snapshot()
        return Usage({name: max(0.0, after[name] - before[name]) for name in self.roles}, t1 - t0)

    def rss(self):
        return {name: rss_bytes(pid, tree) for name, (pid, tree) in self.roles.items()}


class Usage:
    """CPU seconds per role over `seconds` of wall time."""

    def __init__(self, cpu, seconds):
        self.cpu, self.seconds = cpu, seconds

    def server_total(self):
        return sum(value for name, value in self.cpu.items() if name != "client")

    def by_type(self):
        """Summed by process type: worker-1, worker-2 ... -> workers."""
        kinds = {}
        for name, value in self.cpu.items():
            kind = "workers" if name.startswith("worker") else name
            kinds[kind] = kinds.get(kind, 0.0) + value
        return kinds

    def per_thousand(self, count):
        """CPU seconds per 1,000 of `count` (deliveries, handshakes), by role."""
        if not count:
            return {name: None for name in self.cpu}
        return {name: 1000.0 * value / count for name, value in self.cpu.items()}

    def as_dict(self):
        return {"cpu": self.cpu, "seconds": self.seconds}
