"""
Real processes, started and always stopped again: the harness under the
integration tests and the benchmarks (bench/harness/stacks.py).

A free port, a group of processes that log to files and are stopped
together by pid, bounded waits that fail with the tail of every log.
redis_server.py, postgres.py, nginx.py, supervisor.py and chat_stack.py
(the service itself) start their servers with these.

Every process gets its own session (start_new_session=True) and is stopped
by its pid (its process group, which holds nothing but it and whatever it
spawned): SIGTERM, a bounded wait, then SIGKILL. Nothing is ever stopped by
name, so the machine's own redis-server on 6379 is never touched, and that
port is never handed out.
"""
import atexit
import ctypes
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
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
    except (OSError, AttributeError):
        pass  # no prctl in this libc: the child outlives an interrupted run, until stop_all or atexit


class ManagedProcess:
    """One long-running child process, logging stdout and stderr to one file."""

    def __init__(self, name, log_path, popen, log_handle):
        self.name = name
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
        process = ManagedProcess(name, log_path, popen, log_handle)
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


def start_listening(group, name, make_argv, ready, timeout, attempts=3, env=None, cwd=None, watch=()):
    """
    Start a server on a fresh free port and wait for ready(port), failing
    fast if it or a `watch`ed process exits. Retries with another port if
    the first one was taken in the meantime (some servers, like Daphne, log
    that and keep running without listening). Returns (process, port).
    """
    for attempt in range(attempts):
        port = free_port()
        process = group.start(name, make_argv(port), env=env, cwd=cwd)

        def check():
            if _address_in_use(process):
                raise PortInUse("%s could not bind port %d.\n%s" % (name, port, process.describe()))
            return ready(port)

        try:
            wait_until(check, timeout, "%s on port %d" % (name, port), watch=[process] + list(watch))
            return process, port
        except ProcessError:
            if attempt + 1 < attempts and _address_in_use(process):
                process.stop()
                continue
            raise
    raise AssertionError("unreachable")
