"""
supervisord with the shipped supervisord.conf, as a test's child:
deploy/release.sh, then `deploy/supervisord.sh -n`, which runs
`supervisord -c supervisord.conf -n` with the variables operators set
(CHAT_RUN_DIR, DAPHNE_PROCESSES, WORKER_PROCESSES, DAPHNE_BIND, DAPHNE_PORT)
pointing at a private run directory and free ports.

    supervisord = start_supervisord(group, env, daphnes=2, workers=2)
    supervisord.status()        # {"daphne_00": ("RUNNING", 4242), ...}
    supervisord.kill("worker_00")
"""
import configparser
import os
import signal
import socket
import subprocess
import sys

from tests.support.processes import (
    REPO_ROOT, PortInUse, ProcessError, free_port, http_status, tcp_connectable, venv_program, wait_until,
)

CONF = os.path.join(REPO_ROOT, "supervisord.conf")
DEPLOY = os.path.join(REPO_ROOT, "deploy")


def free_port_block(count, host="127.0.0.1"):
    """The first of `count` consecutive ports that are all free right now."""
    for _ in range(50):
        base = free_port(host)
        if base + count > 65535:
            continue
        taken = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                taken.append(sock)
                sock.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in taken:
                sock.close()
    raise ProcessError("No block of %d free ports on %s" % (count, host))


def stopwaitsecs(program):
    """How long supervisord.conf lets `program` ("worker", "daphne") stop."""
    conf = configparser.RawConfigParser()
    conf.read(CONF)
    return int(conf.get("program:%s" % program, "stopwaitsecs"))


class Supervisord:
    """A running supervisord and its programs ("daphne_00", "worker_01", ...)."""

    def __init__(self, process, env, daphnes, workers, split_pools=(0, 0)):
        self.process = process
        self.env = env
        self.daphnes = ["daphne_%02d" % number for number in range(daphnes)]
        self.workers = ["worker_%02d" % number for number in range(workers)]
        self.workers += ["socket_worker_%02d" % number for number in range(split_pools[0])]
        self.workers += ["background_worker_%02d" % number for number in range(split_pools[1])]

    @property
    def pid(self):
        return self.process.pid

    @property
    def run_dir(self):
        return self.env["CHAT_RUN_DIR"]

    def daphne_port(self, program):
        return int(self.env["DAPHNE_PORT"]) + self.daphnes.index(program)

    def log(self, program="supervisord"):
        """The log supervisord keeps of a program (its stdout and stderr), or its own."""
        try:
            with open(os.path.join(self.run_dir, "%s.log" % program), encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def ctl(self, *args):
        """supervisorctl with the shipped configuration; returns its output."""
        result = subprocess.run([venv_program("supervisorctl"), "-c", CONF] + list(args), env=self.env,
                                capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr

    def status(self):
        """{"daphne_00": ("RUNNING", pid), "worker_00": ("STARTING", None), ...}"""
        programs = {}
        for line in self.ctl("status").splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0].startswith("chat:"):
                pid = int(fields[3].rstrip(",")) if fields[1] == "RUNNING" else None
                programs[fields[0][len("chat:"):]] = (fields[1], pid)
        return programs

    def pids(self):
        """{program: pid} of every RUNNING program."""
        return {name: pid for name, (state, pid) in self.status().items() if state == "RUNNING"}

    def wait_running(self, timeout=60, replaced=None):
        """Every program RUNNING, each Daphne answering GET / through a
        worker; with `replaced` ({program: old pid}), those with new pids."""
        expected = set(self.daphnes + self.workers + ["presence"])

        def ready():
            for daphne in self.daphnes:
                if "address already in use" in self.log(daphne).lower():
                    raise PortInUse("%s could not bind port %d" % (daphne, self.daphne_port(daphne)))
            pids = self.pids()
            if set(pids) != expected or any(pids[name] == pid for name, pid in (replaced or {}).items()):
                return None
            for daphne in self.daphnes:
                port = self.daphne_port(daphne)
                if not (tcp_connectable("127.0.0.1", port) and http_status("127.0.0.1", port, "/") == 200):
                    return None
            return pids

        return wait_until(ready, timeout, "every supervisord program running and serving", watch=[self.process],
                          logs=self.logs)

    def kill(self, program, signum=signal.SIGKILL):
        """Signal one program by its pid (SIGKILL: a crash). Returns the pid."""
        pid = self.pids()[program]
        os.kill(pid, signum)
        return pid

    def logs(self, lines=40):
        """supervisord's log and each program's, for failure messages."""
        parts = []
        for program in ["supervisord"] + self.daphnes + self.workers:
            text = self.log(program).splitlines()[-lines:]
            parts.append("----- %s (%s/%s.log) -----\n%s" % (program, self.run_dir, program, "\n".join(text)))
        return "\n".join(parts)


class ServerStack:
    """supervisord, and nginx in front if any: what tests reach through
    url() and ws_url() (the integration conftest's fixtures use them)."""

    def __init__(self, group, supervisord, nginx=None):
        self.group, self.supervisord, self.nginx = group, supervisord, nginx
        self.env = supervisord.env
        self.workdir = group.workdir

    def _front(self, scheme, path):
        if self.nginx is not None:
            return "%s://%s:%d%s" % (scheme, self.nginx.host, self.nginx.port, path)
        return "%s://127.0.0.1:%d%s" % (scheme, self.supervisord.daphne_port(self.supervisord.daphnes[0]), path)

    def url(self, path):
        return self._front("http", path)

    def ws_url(self, path):
        return self._front("ws", path)

    def logs(self, lines=40):
        return "%s\n%s" % (self.group.logs(lines), self.supervisord.logs(lines))


def supervisord_environment(env, run_dir, daphnes, workers, split_pools):
    """`env` plus what supervisord.conf and deploy/ read, on free ports."""
    env = dict(env)
    env.update({
        "CHAT_RUN_DIR": run_dir,
        "DAPHNE_PROCESSES": str(daphnes),
        "WORKER_PROCESSES": str(workers),
        "SOCKET_WORKER_PROCESSES": str(split_pools[0]),
        "BACKGROUND_WORKER_PROCESSES": str(split_pools[1]),
        "DAPHNE_BIND": "127.0.0.1",
        "DAPHNE_PORT": str(free_port_block(daphnes)),
    })
    return env


def start_supervisord(group, env, daphnes=2, workers=2, split_pools=(0, 0), timeout=90):
    """Release (migrate, collectstatic), then supervisord in the foreground,
    ready when every program runs and each Daphne answers. `split_pools`:
    how many socket and background workers (README, "Worker pools")."""
    env = dict(env, VENV=sys.prefix)  # deploy/ runs the test's own Python environment
    group.run("release", [os.path.join(DEPLOY, "release.sh")], env=env)
    for attempt in range(3):
        run_dir = os.path.join(group.workdir, "run" if attempt == 0 else "run-%d" % attempt)
        os.makedirs(run_dir, exist_ok=True)
        if len(os.path.join(run_dir, "supervisord.sock")) > 100:
            raise ProcessError("%s is too long a path for supervisord's unix socket" % run_dir)
        ports_env = supervisord_environment(env, run_dir, daphnes, workers, split_pools)
        process = group.start("supervisord", [os.path.join(DEPLOY, "supervisord.sh"), "-n"], env=ports_env)
        supervisord = Supervisord(process, ports_env, daphnes, workers, split_pools)
        try:
            supervisord.wait_running(timeout)
            return supervisord
        except PortInUse:
            # Another process took a port after free_port_block(): again, elsewhere.
            process.stop()
            if attempt == 2:
                raise
