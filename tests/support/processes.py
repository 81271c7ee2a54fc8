"""
Real processes for integration tests: start them, wait until they serve,
and always stop them again.

The building blocks are generic (a free port, a group of processes that
log to files and are stopped together by pid, bounded waits that fail with
the tail of every log) so later harnesses (nginx, supervisord, PostgreSQL)
can reuse them. `chat_stack()` puts them together for this project's
worker mode:

    redis-server  <-  daphne asgi:channel_layer  ->  manage.py runworker x N

    with chat_stack(tmp_dir, workers=2) as stack:
        stack.base_url        # http://127.0.0.1:<port>
        stack.ws_url("/chat/lobby/")
        stack.workers[0].kill()

Every process gets its own session (start_new_session=True) and is stopped
by its pid (its process group, which holds nothing but it and whatever it
spawned): SIGTERM, a bounded wait, then SIGKILL. Nothing is ever stopped by
name, so the machine's own redis-server on 6379 is never touched, and that
port is never handed out.
"""
import atexit
import contextlib
import ctypes
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Ports that belong to services of the machine, never to a test.
RESERVED_PORTS = frozenset([6379])

DEFAULT_STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 40


class ProcessError(RuntimeError):
    """A process did not start, did not become ready, or a command failed.
    The message ends with the tail of the relevant logs."""


class MissingProgram(ProcessError):
    """A program the tests run is not installed."""


class PortInUse(ProcessError):
    """A server could not bind its port (someone took it after free_port())."""


# --------------------------------------------------------------------------
# Small building blocks


def free_port(host="127.0.0.1"):
    """A TCP port that nothing listens on right now (the OS picks it).

    Another process may take it before the caller binds it; start helpers
    retry with a new port when a server reports "Address already in use".
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port
    raise ProcessError("Could not find a free port on %s" % host)


def venv_program(name):
    """A console script installed next to the running Python (the venv's)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        raise MissingProgram(
            "%s is not installed next to %s; install requirements-dev.txt into this venv "
            "(`make test` does)." % (name, sys.executable)
        )
    return path


def system_program(name, package=None):
    """A program from PATH, or a clear error naming what installs it."""
    path = shutil.which(name)
    if path is None:
        raise MissingProgram(
            "%s was not found on PATH. The integration tests start a real %s; `make test` "
            "installs it (Debian package %s), or install it yourself: "
            "sudo apt-get install %s" % (name, name, package or name, package or name)
        )
    return path


def tail(path, lines=LOG_TAIL_LINES):
    """The last `lines` lines of a text file, or a note why there are none."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except OSError as error:
        return "(no log: %s)" % error
    text = data.decode("utf-8", "replace").splitlines()[-lines:]
    return "\n".join(text) if text else "(log is empty)"


def tcp_connectable(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def redis_ping(port, host="127.0.0.1", timeout=1.0):
    """True when a Redis server answers PING on host:port (a password-protected
    one answers that it wants the password first)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def http_status(host, port, path="/", timeout=5.0, headers=None):
    """Status code of a GET, or raises OSError / http.client errors."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def descendants(pid):
    """Pids of every living process below `pid` (children, their children...)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    # "pid (comm) state ppid ...": comm may hold spaces.
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, its_parent in parents.items() if its_parent == parent]
        found.extend(children)
        frontier.extend(children)
    return found


# --------------------------------------------------------------------------
# Processes

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: on Linux, SIGTERM the child when the test process dies,
    even by SIGKILL, so an interrupted run leaves nothing behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


class ManagedProcess:
    """One long-running child process, logging stdout and stderr to one file."""

    def __init__(self, name, argv, log_path, popen, log_handle):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.popen = popen
        self._log_handle = log_handle

    def __repr__(self):
        return "<%s pid=%s %s>" % (self.name, self.pid, "running" if self.alive() else "exited")

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.poll()

    def alive(self):
        return self.popen.poll() is None

    def tail(self, lines=LOG_TAIL_LINES):
        return tail(self.log_path, lines)

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def describe(self, lines=LOG_TAIL_LINES):
        state = "running" if self.alive() else "exited with code %s" % self.returncode
        return "----- %s (pid %s, %s), last lines of %s -----\n%s" % (
            self.name, self.pid, state, self.log_path, self.tail(lines))

    def _signal(self, signum):
        # The child leads its own process group (start_new_session=True), so
        # the group id is its pid: this reaches it and anything it spawned,
        # and nothing else.
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, timeout=DEFAULT_STOP_TIMEOUT):
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL. Idempotent.
        Children that a process manager (honcho, supervisord) put in groups
        of their own are stopped by it, or else SIGKILLed here by pid."""
        children = descendants(self.pid) if self.alive() else []
        try:
            if self.alive():
                self._signal(signal.SIGTERM)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self.popen.wait(timeout)
            # Whatever it left in its group (normally nothing).
            self._signal(signal.SIGKILL)
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            self._close_log()

    def kill(self, timeout=DEFAULT_STOP_TIMEOUT):
        """SIGKILL right away (a crash, as far as the rest of the system can tell)."""
        self._signal(signal.SIGKILL)
        self.popen.wait(timeout)

    def _close_log(self):
        if self._log_handle is not None and not self._log_handle.closed:
            self._log_handle.close()

    def wait_for_log(self, text, timeout):
        """Wait until `text` appears in the process's log."""
        return wait_until(lambda: text in self.log_text(), timeout,
                          "%r in the log of %s" % (text, self.name), watch=[self])


_live_groups = weakref.WeakSet()
_live_groups_lock = threading.Lock()


def _stop_leftover_groups():
    # Last resort if a caller forgot to stop a group (or the interpreter is
    # exiting on an exception that skipped a finally): never leak children.
    with _live_groups_lock:
        groups = list(_live_groups)
    for group in groups:
        group.stop_all()


atexit.register(_stop_leftover_groups)


class ProcessGroup:
    """
    Processes started together and stopped together, newest first.

    Use it as a context manager (or call stop_all() in a finally): every
    process started through it is stopped even when a later start fails.
    """

    def __init__(self, workdir, env=None, cwd=None):
        self.workdir = str(workdir)
        self.env = dict(env if env is not None else os.environ)
        self.cwd = cwd or REPO_ROOT
        self.processes = []
        self._names = {}
        os.makedirs(self.workdir, exist_ok=True)
        with _live_groups_lock:
            _live_groups.add(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop_all()
        return False

    def _log_path(self, name):
        count = self._names.get(name, 0)
        self._names[name] = count + 1
        suffix = "" if count == 0 else ".%d" % count
        return os.path.join(self.workdir, "%s%s.log" % (name, suffix))

    def _child_options(self, log_handle, env, cwd):
        """Every child: no stdin, output to its log, its own session."""
        return dict(
            cwd=cwd or self.cwd,
            env=env if env is not None else self.env,
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, name, argv, env=None, cwd=None):
        """Start a long-running process; its output goes to <workdir>/<name>.log."""
        log_path = self._log_path(name)
        log_handle = open(log_path, "ab")
        try:
            popen = subprocess.Popen(
                [str(arg) for arg in argv],
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                **self._child_options(log_handle, env, cwd)
            )
        except BaseException:
            log_handle.close()
            raise
        process = ManagedProcess(name, argv, log_path, popen, log_handle)
        self.processes.append(process)
        return process

    def run(self, name, argv, env=None, cwd=None, timeout=120):
        """Run a command to completion; raise ProcessError with its output if it fails."""
        log_path = self._log_path(name)
        with open(log_path, "ab") as log_handle:
            try:
                completed = subprocess.run(
                    [str(arg) for arg in argv],
                    timeout=timeout,
                    **self._child_options(log_handle, env, cwd)
                )
            except subprocess.TimeoutExpired:
                raise ProcessError("%s did not finish within %ss: %s\n%s" % (
                    name, timeout, " ".join(map(str, argv)), tail(log_path)))
        if completed.returncode != 0:
            raise ProcessError("%s failed with exit code %s: %s\n%s" % (
                name, completed.returncode, " ".join(map(str, argv)), tail(log_path)))
        return log_path

    def stop_all(self, timeout=DEFAULT_STOP_TIMEOUT):
        """Stop every process, newest first. Keeps going if one stop fails."""
        errors = []
        for process in reversed(self.processes):
            try:
                process.stop(timeout)
            except Exception as error:  # pragma: no cover - best effort
                errors.append("%s: %r" % (process, error))
        with _live_groups_lock:
            _live_groups.discard(self)
        if errors:
            raise ProcessError("Could not stop: " + "; ".join(errors))

    def logs(self, lines=LOG_TAIL_LINES):
        """The tails of every process's log, for a failure message."""
        return "\n".join(process.describe(lines) for process in self.processes)


def wait_until(check, timeout, what, watch=(), logs=None, interval=0.1):
    """
    Call check() until it returns something truthy, and return that.

    Fails fast when a watched process exits, and on timeout; both errors
    name `what` and end with the watched processes' log tails (or `logs()`).
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        for process in watch:
            if not process.alive():
                raise ProcessError("%s exited with code %s while waiting for %s.\n%s" % (
                    process.name, process.returncode, what,
                    logs() if logs else process.describe()))
        try:
            result = check()
        except ProcessError:
            raise
        except Exception as error:
            result, last_error = None, error
        if result:
            return result
        if time.monotonic() >= deadline:
            details = logs() if logs else "\n".join(p.describe() for p in watch)
            raise ProcessError("Timed out after %ss waiting for %s%s.\n%s" % (
                timeout, what, " (last error: %r)" % last_error if last_error else "", details))
        time.sleep(interval)


def _address_in_use(process):
    text = process.log_text().lower()
    return "address already in use" in text or "couldn't listen" in text


def start_listening(group, name, make_argv, ready, timeout, attempts=3, env=None):
    """
    Start a server on a fresh free port and wait for ready(port). Retries
    with another port if the first one was taken in the meantime (some
    servers, like Daphne, log that and keep running without listening).
    Returns (process, port).
    """
    for attempt in range(attempts):
        port = free_port()
        process = group.start(name, make_argv(port), env=env)

        def check():
            if _address_in_use(process):
                raise PortInUse("%s could not bind port %d.\n%s" % (name, port, process.describe()))
            return ready(port)

        try:
            wait_until(check, timeout, "%s on port %d" % (name, port), watch=[process])
            return process, port
        except ProcessError:
            if attempt + 1 < attempts and _address_in_use(process):
                process.stop()
                continue
            raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------
# Redis


def start_redis(group, timeout=20, port=None, password=None):
    """A private, non-persistent redis-server on a free port (or on `port`,
    to restart one that was stopped), asking for `password` if given.
    Returns (process, port)."""
    redis_server = system_program("redis-server")
    data_dir = os.path.join(group.workdir, "redis")
    os.makedirs(data_dir, exist_ok=True)

    def argv(port):
        return [redis_server, "--port", port, "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", data_dir] + (["--requirepass", password] if password else [])

    if port is None:
        return start_listening(group, "redis", argv, redis_ping, timeout)
    process = group.start("redis", argv(port))
    wait_until(lambda: redis_ping(port), timeout, "redis-server on port %d" % port, watch=[process])
    return process, port


class ModuleRedis:
    """A private redis-server for a unittest module: start() in setUpModule,
    stop() in tearDownModule; `url` while it runs."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.group = None
        self.url = None

    def start(self):
        self.group = ProcessGroup(tempfile.mkdtemp(prefix=self.prefix))
        try:
            _, port = start_redis(self.group)
        except BaseException:
            self.stop()
            raise
        self.url = "redis://127.0.0.1:%d/0" % port

    def stop(self):
        self.group.stop_all()
        shutil.rmtree(self.group.workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# The chat service in worker mode

# Environment variables the service and deploy/ read (the Makefile's list);
# the test process's own values must never leak into the processes it
# starts (a REDIS_URLS in the shell would win over the private Redis).
_SERVICE_VARIABLE_PREFIXES = ("DJANGO_", "CHANNEL_LAYER_", "CHAT_", "DATABASE_", "REDIS_",
                              "DAPHNE_", "WORKER_", "NGINX_")
_SERVICE_VARIABLES = {"VENV"}


# Every test client comes from 127.0.0.1 and tests send bursts no person
# could: the shipped budgets (interface/budgets.py) would refuse them. Tests of the
# budgets themselves pass shipped_budgets=True.
TEST_BUDGETS = {
    "CHAT_ADDRESS_FRAME_RATE": "0",
    "CHAT_ADDRESS_CONNECT_RATE": "0",
    "CHAT_ADDRESS_ROOMS_PER_MINUTE": "0",
    "CHAT_ADDRESS_SIGNUPS_PER_HOUR": "0",
    "CHAT_ADDRESS_SIGNINS_PER_MINUTE": "0",
    "CHAT_SOCKET_FRAME_RATE": "100",
    "CHAT_SOCKET_FRAME_BURST": "500",
}


def chat_environment(workdir, redis_port, shipped_budgets=False, **overrides):
    """The environment for manage.py and daphne: production-like, all private to this run."""
    env = {
        key: value for key, value in os.environ.items()
        if key not in _SERVICE_VARIABLES and not key.startswith(_SERVICE_VARIABLE_PREFIXES)
    }
    static_root = os.path.join(workdir, "static")
    os.makedirs(static_root, exist_ok=True)
    env.update({
        "DJANGO_SETTINGS_MODULE": "proj.settings",
        "REDIS_URL": "redis://127.0.0.1:%d/0" % redis_port,
        "DATABASE_URL": "sqlite:///" + os.path.abspath(os.path.join(workdir, "db.sqlite3")),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_STATIC_ROOT": static_root,
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    if not shipped_budgets:
        env.update(TEST_BUDGETS)
    env.update({key: str(value) for key, value in overrides.items()})
    return env


class ChatStack:
    """A running redis-server + daphne + runworkers, and how to reach them."""

    host = "127.0.0.1"

    def __init__(self, group, env, redis, redis_port, daphne, http_port, workers):
        self.group = group
        self.env = env
        self.redis = redis
        self.redis_port = redis_port
        self.daphne = daphne
        self.http_port = http_port
        self.workers = workers

    @property
    def workdir(self):
        return self.group.workdir

    @property
    def base_url(self):
        return "http://%s:%d" % (self.host, self.http_port)

    def url(self, path):
        return self.base_url + path

    def ws_url(self, path):
        return "ws://%s:%d%s" % (self.host, self.http_port, path)

    def processes(self):
        return list(self.group.processes)

    def logs(self, lines=LOG_TAIL_LINES):
        return self.group.logs(lines)

    def start_presence(self, timeout=60):
        """`manage.py runpresence`, once it pushes presence (chat/presence.py)."""
        self.presence = self.group.start(
            "runpresence", [sys.executable, os.path.join(REPO_ROOT, "manage.py"), "runpresence"], env=self.env)
        self.presence.wait_for_log("Pushing presence", timeout)
        return self.presence

    def start_worker(self, timeout=60, args=()):
        """One more runworker, ready to take messages; `args`: runworker's
        options, e.g. ["--only-channels=chat.background"]."""
        worker = start_worker(self.group, self.env, len(self.workers) + 1, timeout, args)
        self.workers.append(worker)
        return worker

    @staticmethod
    def dispatch_count(worker, channel):
        """How many messages of `channel` this worker has run a consumer for so far."""
        return worker.log_text().count("Dispatching message on %s to" % channel)


WORKER_READY_LINE = "Running worker against channel layer"


def start_worker(group, env, number, timeout=60, args=()):
    # -v 2 logs every dispatched message ("Dispatching message on
    # websocket.receive to ..."), so tests can tell which worker ran what.
    argv = [sys.executable, os.path.join(REPO_ROOT, "manage.py"), "runworker", "-v", "2"] + list(args)
    worker = group.start("runworker-%d" % number, argv, env=env)
    worker.wait_for_log(WORKER_READY_LINE, timeout)
    return worker


def prepare_database(group, env):
    manage = os.path.join(REPO_ROOT, "manage.py")
    group.run("migrate", [sys.executable, manage, "migrate", "--noinput"], env=env)
    group.run("collectstatic", [sys.executable, manage, "collectstatic", "--noinput"], env=env)


@contextlib.contextmanager
def chat_stack(workdir, workers=2, timeout=90, daphne_args=(), shipped_budgets=False, worker_args=(),
               redis_password=None, **env_overrides):
    """
    Start redis-server, migrate and collect static files, start daphne and
    `workers` runworkers (with runworker options `worker_args`), and wait
    until GET / answers 200 through the layer and every worker is running.
    Everything is stopped on exit, and also when starting fails half-way.
    """
    group = ProcessGroup(workdir)
    try:
        try:
            stack = _start_chat_stack(group, workers, timeout, daphne_args, shipped_budgets, worker_args,
                                      redis_password, env_overrides)
        except ProcessError as error:
            # Attach every log to a startup failure, not only the failing process's.
            raise ProcessError("%s\n\nAll processes:\n%s" % (error, group.logs())) from None
        yield stack
    finally:
        group.stop_all()


def start_daphne(group, env, name="daphne", daphne_args=(), timeout=90, port=None):
    """Daphne as deployments start it (deploy/daphne.sh: the shipped flags)
    on a free port (or `port`, to restart one), ready once GET / answers 200
    through a worker. Returns (process, port)."""
    script = os.path.join(REPO_ROOT, "deploy", "daphne.sh")

    def daphne_argv(port):
        return ["/usr/bin/env", "DAPHNE_BIND=127.0.0.1", "DAPHNE_PORT=%d" % port, script] + list(daphne_args)

    def daphne_serves(port):
        # The index runs in a worker: a 200 proves the whole path
        # Daphne -> Redis -> runworker -> database -> back.
        return tcp_connectable("127.0.0.1", port) and http_status("127.0.0.1", port, "/") == 200

    if port is not None:
        process = group.start(name, daphne_argv(port), env=env)
        wait_until(lambda: daphne_serves(port), timeout, "%s on port %d" % (name, port), watch=[process])
        return process, port
    return start_listening(group, name, daphne_argv, daphne_serves, timeout, env=env)


def _start_chat_stack(group, workers, timeout, daphne_args, shipped_budgets, worker_args, redis_password,
                      env_overrides):
    redis, redis_port = start_redis(group, password=redis_password)
    if redis_password:
        env_overrides = dict({"REDIS_URL": "redis://:%s@127.0.0.1:%d/0" % (redis_password, redis_port)},
                             **env_overrides)
    env = chat_environment(group.workdir, redis_port, shipped_budgets, **env_overrides)
    group.env = env
    prepare_database(group, env)
    started_workers = [start_worker(group, env, number, timeout, worker_args) for number in range(1, workers + 1)]
    daphne, http_port = start_daphne(group, env, daphne_args=daphne_args, timeout=timeout)
    for worker in started_workers:
        if not worker.alive():
            raise ProcessError("%s exited during startup (code %s)." % (worker.name, worker.returncode))
    return ChatStack(group, env, redis, redis_port, daphne, http_port, started_workers)
