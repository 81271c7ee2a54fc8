"""
The servers under test, each a context manager that starts its processes in
a ProcessGroup and says how to reach them and which pid plays which role.
Every process is started by the harness the tests use (tests/support:
own session, stopped by pid, SIGTERM then SIGKILL, also when start-up fails
half-way, on Ctrl-C and at exit):

    ProjectStack  this project as it ships, started as the tests start it
                  (tests/support/chat_stack.py): deploy/daphne.sh,
                  WORKER_PROCESSES x deploy/worker.sh (deploy/lib.sh's default,
                  what supervisord runs), deploy/presence.sh, a private
                  redis-server, SQLite or a private PostgreSQL; the shipped
                  budgets and settings
    PeerStack     the Channels 4 peer (bench/peer) in bench/.peer-venv: one
                  Daphne 4, a private redis-server, SQLite or PostgreSQL
    BareStack     the bare websockets broadcast server (bench/harness/bare.py)

Never the machine's Redis (6379) or PostgreSQL (5432): every server gets a
free port of its own.
"""
import concurrent.futures
import http.client
import importlib.metadata
import itertools
import os
import re
import shutil
import subprocess
import sys
import time

from tests.support.chat_stack import start_chat
from tests.support.postgres import postgres_program, start_postgres
from tests.support.processes import REPO_ROOT, ProcessError, ProcessGroup, http_status, start_listening, tcp_connectable
from tests.support.redis_server import start_redis

from bench.harness.addresses import address

# Source addresses for first visits to rooms, apart from the sockets' (which count up from 1).
_visitors = itertools.count(500000)

BENCH = os.path.join(REPO_ROOT, "bench")
PEER_DIR = os.path.join(BENCH, "peer")
PEER_VENV = os.path.join(BENCH, ".peer-venv")
PEER_REQUIREMENTS = os.path.join(PEER_DIR, "requirements.txt")


def shipped_default(variable, root=REPO_ROOT):
    """A process count as deploy/lib.sh (and so supervisord.conf) defaults it."""
    with open(os.path.join(root, "deploy", "lib.sh")) as handle:
        match = re.search(r'^: "\$\{%s:=(\d+)\}"' % variable, handle.read(), re.M)
    if match is None:
        raise ProcessError("deploy/lib.sh has no default for %s" % variable)
    return int(match.group(1))


def redis_version():
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"v=(\S+)", out)
    return match.group(1) if match else out.strip()


def postgres_version():
    try:
        out = subprocess.run([postgres_program("postgres"), "--version"], capture_output=True, text=True).stdout
        return re.search(r"\d+(\.\d+)+", out).group(0)
    except Exception:
        return "?"


class Stack:
    """What every server under test offers the workloads."""

    name = "?"
    title = "?"
    has_presence = False

    def __init__(self, workdir, database="sqlite"):
        self.workdir = workdir
        self.database = database
        self.group = None
        self.http_port = None
        self.postgres = None
        self._roles = {}

    def __enter__(self):
        self.group = ProcessGroup(self.workdir)
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self):
        try:
            if self.group is not None:
                self.group.stop_all()
        finally:
            if self.postgres is not None:
                shutil.rmtree(self.postgres.data_dir, ignore_errors=True)

    host = "127.0.0.1"

    def socket_url(self, label, after=None):
        """The WebSocket URL of a room, with ?after= when given."""
        url = "ws://127.0.0.1:%d/chat/%s/" % (self.http_port, label)
        return url if after is None else url + "?after=%d" % after

    # The same reach as tests/support's ChatStack.
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def ws_url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.http_port, path)

    def processes(self):
        return list(self.group.processes)

    def roles(self):
        """{role: (pid, whole tree?)} of every server process."""
        return dict(self._roles)

    def create_rooms(self, labels):
        """GET /<label>/ creates a room (chat/views.py; the peer does the same): each first visit
        from an address of its own, as people would (room pages have a per-address budget), and
        a 429 waits its Retry-After."""
        def visit(label):
            source = address(next(_visitors))
            for _ in range(20):
                connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=60,
                                                        source_address=(source, 0))
                try:
                    connection.request("GET", "/%s/" % label)
                    response = connection.getresponse()
                    response.read()
                finally:
                    connection.close()
                if response.status == 200:
                    return
                if response.status != 429:
                    raise ProcessError("GET /%s/ answered %d" % (label, response.status))
                time.sleep(float(response.getheader("Retry-After") or 1))
            raise ProcessError("GET /%s/ still answered 429 after 20 tries" % label)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(visit, labels))

    def logs(self, lines=40):
        return self.group.logs(lines) if self.group else ""

    # What the project's layer logs when a full reply channel refuses a Group send
    # (redis_layer/layer.py): issue 13 counts each missed member as a dropped delivery.
    DROP_LINE = re.compile(rb"(\d+) member\(s\) not sent")

    def broadcast_drops(self):
        """Members the server logged as not sent a broadcast, so far (read from the logs incrementally)."""
        offsets = self.__dict__.setdefault("_drop_offsets", {})
        total = self.__dict__.setdefault("_drops", 0)
        for process in self.group.processes:
            try:
                with open(process.log_path, "rb") as handle:
                    handle.seek(offsets.get(process.log_path, 0))
                    data = handle.read()
            except OSError:
                continue
            cut = data.rfind(b"\n") + 1
            offsets[process.log_path] = offsets.get(process.log_path, 0) + cut
            total += sum(int(count) for count in self.DROP_LINE.findall(data[:cut]))
        self._drops = total
        return total

    def check_alive(self):
        """Raise ProcessError, with its log's tail, when a process of the stack has exited."""
        dead = [process for process in self.group.processes if not process.alive()]
        if dead:
            raise ProcessError("%s exited:\n%s" % (", ".join(p.name for p in dead),
                                                     "\n".join(p.describe(15) for p in dead)))

    def _start_database(self):
        if self.database == "postgresql":
            self.postgres = start_postgres(self.group)
            self._roles["postgres"] = (self.postgres.process.pid, True)
            return self.postgres.create_database("bench")
        return None


class ProjectStack(Stack):
    """This project. By default exactly as it ships; a scenario may ask for the test budgets
    (budgets="test": tests/support's TEST_BUDGETS, for many sockets from one address), another
    number of workers, no runpresence, runworker options and settings of its own. The running
    service is tests/support's ChatStack (`chat`): its processes (redis, daphne, workers, env)
    and faults by role (start_worker, restart_redis, kill_and_restart_daphne) are this stack's."""

    name = "project"
    title = "this project (Channels 1.x worker mode)"
    # A commit to measure instead of the working tree (python -m bench run --commit).
    commit = None
    # Settings to try before shipping them (python -m bench run --set NAME=VALUE).
    trial_settings = {}

    def __init__(self, workdir, database="sqlite", budgets="shipped", workers=None, presence=True, env=None,
                 worker_args=()):
        super().__init__(workdir, database)
        self.budgets, self.worker_count, self.has_presence = budgets, workers, presence
        self.env_overrides, self.worker_args = dict(env or {}), list(worker_args)
        self.chat = None

    def __getattr__(self, name):
        chat = self.__dict__.get("chat")
        if chat is None:
            raise AttributeError(name)
        return getattr(chat, name)

    def tree(self):
        """The project's files to run: the working tree, or `commit` exported with git archive."""
        if not self.commit:
            return REPO_ROOT
        root = os.path.join(self.group.workdir, "tree")
        os.makedirs(root, exist_ok=True)
        archive = subprocess.run(["git", "archive", self.commit], cwd=REPO_ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
        return root

    def start(self):
        root = self.tree()
        overrides = {}
        url = self._start_database()
        if url:
            overrides["DATABASE_URL"] = url
        overrides.update(self.trial_settings)
        overrides.update(self.env_overrides)
        count = self.worker_count if self.worker_count is not None else shipped_default("WORKER_PROCESSES", root)
        self.chat = start_chat(self.group, count, worker_args=self.worker_args, presence=self.has_presence,
                               shipped_budgets=self.budgets == "shipped", root=root, **overrides)
        self.http_port = self.chat.http_port
        self.check_alive()

    def roles(self):
        roles = {"redis": (self.redis.pid, False), "daphne": (self.daphne.pid, False)}
        roles.update(("worker-%d" % number, (worker.pid, False)) for number, worker in enumerate(self.workers, 1))
        if self.presence is not None:
            roles["presence"] = (self.presence.pid, False)
        if self.postgres is not None:
            roles["postgres"] = (self.postgres.process.pid, True)
        return roles

    def versions(self):
        names = ["Django", "channels", "daphne", "asgi_redis", "asgiref", "redis", "msgpack-python", "Twisted",
                 "autobahn", "psycopg2-binary"]
        found = {name: _version(name) for name in names}
        found["redis-server"] = redis_version()
        found["processes"] = "1 Daphne, %d workers (WORKER_PROCESSES), runpresence" % len(self.workers)
        return found


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def ensure_peer_venv():
    """bench/.peer-venv with bench/peer/requirements.txt, made once (again when the file changes)."""
    stamp = os.path.join(PEER_VENV, ".requirements")
    base = getattr(sys, "_base_executable", sys.executable)
    with open(PEER_REQUIREMENTS) as handle:
        # Made again when the requirements or the Python that makes it change.
        wanted = handle.read() + "\n# python %s\n" % ".".join(map(str, sys.version_info[:3]))
    try:
        with open(stamp) as handle:
            if handle.read() == wanted:
                return
    except OSError:
        pass
    print("bench: creating bench/.peer-venv from bench/peer/requirements.txt", flush=True)
    subprocess.run([base, "-m", "venv", "--clear", PEER_VENV], check=True)
    done = subprocess.run([os.path.join(PEER_VENV, "bin", "python"), "-m", "pip", "install", "-q", "-r",
                           PEER_REQUIREMENTS], capture_output=True, text=True)
    if done.returncode != 0:
        raise ProcessError("pip could not install bench/peer/requirements.txt:\n" + done.stdout + done.stderr)
    with open(stamp, "w") as handle:
        handle.write(wanted)


class PeerStack(Stack):
    name = "peer"
    title = "Channels 4 peer (Daphne 4.2, channels 4.3, channels_redis 4.3, Django 5.2)"

    def start(self):
        ensure_peer_venv()
        redis, redis_port = start_redis(self.group)
        self._roles["redis"] = (redis.pid, False)
        url = self._start_database()
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PEER_"))}
        env.update({
            "DJANGO_SETTINGS_MODULE": "peerchat.settings",
            "PEER_REDIS_URL": "redis://127.0.0.1:%d/0" % redis_port,
            "PEER_DATABASE": url or os.path.join(self.group.workdir, "peer.sqlite3"),
            "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
        })
        python = os.path.join(PEER_VENV, "bin", "python")
        self.group.run("peer-migrate", [python, "manage.py", "migrate", "--noinput"], env=env, cwd=PEER_DIR)

        def argv(port):
            return [os.path.join(PEER_VENV, "bin", "daphne"), "-b", "127.0.0.1", "-p", port,
                    "peerchat.asgi:application"]

        def serves(port):
            return tcp_connectable("127.0.0.1", port) and http_status("127.0.0.1", port, "/ready/") == 200

        daphne, self.http_port = start_listening(self.group, "peer-daphne", argv, serves, 90, env=env, cwd=PEER_DIR)
        self._roles["daphne"] = (daphne.pid, False)

    def versions(self):
        python = os.path.join(PEER_VENV, "bin", "python")
        code = ("import importlib.metadata as m\nfor n in ['Django','channels','channels_redis','daphne','Twisted',"
                "'autobahn','redis','msgpack','psycopg2-binary']: print(n, m.version(n))")
        out = subprocess.run([python, "-c", code], capture_output=True, text=True).stdout
        found = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        found["redis-server"] = redis_version()
        found["processes"] = "1 Daphne 4"
        return found


class BareStack(Stack):
    name = "bare"
    title = "bare asyncio websockets server"

    def start(self):
        env = dict(os.environ, PYTHONPATH=REPO_ROOT, PYTHONUNBUFFERED="1")

        def argv(port):
            return [sys.executable, "-m", "bench.harness.bare", "--port", port]

        process, self.http_port = start_listening(
            self.group, "bare", argv, lambda port: tcp_connectable("127.0.0.1", port), 60, env=env)
        self._roles["server"] = (process.pid, False)

    def create_rooms(self, labels):
        pass  # rooms exist when a socket names them

    def versions(self):
        import websockets
        return {"websockets": websockets.__version__, "processes": "1 asyncio process"}


STACKS = {"project": ProjectStack, "peer": PeerStack, "bare": BareStack}
