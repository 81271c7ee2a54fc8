"""
The chat service in worker mode as real processes, each started by the
deploy/ script that starts it in production, on a private redis-server:

    redis-server  <-  deploy/daphne.sh  ->  deploy/worker.sh x N   (+ deploy/presence.sh)

    with chat_stack(tmp_dir, workers=2) as stack:     # the integration tests
        stack.ws_url("/chat/lobby/")
        stack.workers[0].kill()

chat_stack() runs the test budgets and logs every dispatched message;
the benchmarks' ProjectStack (bench/harness/stacks.py) calls start_chat()
with the shipped budgets and settings.
"""
import contextlib
import os
import secrets
import sys
import time

from tests.support.processes import (LOG_TAIL_LINES, REPO_ROOT, ProcessError, ProcessGroup, http_status,
                                     start_listening, tcp_connectable, wait_until)
from tests.support.redis_server import start_redis

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

WORKER_READY_LINE = "Running worker against channel layer"


def chat_environment(workdir, redis_port, shipped_budgets=False, **overrides):
    """The environment for manage.py and deploy/: production-like, all private to this run."""
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


def prepare_database(group, env, root=REPO_ROOT):
    """What deploy/release.sh does before a release: migrate, collect static files."""
    manage = os.path.join(root, "manage.py")
    group.run("migrate", [sys.executable, manage, "migrate", "--noinput"], env=env, cwd=root)
    group.run("collectstatic", [sys.executable, manage, "collectstatic", "--noinput"], env=env, cwd=root)


def _script_env(env):
    """deploy/ runs the Python environment that runs this, unless told another."""
    return dict(env, VENV=env.get("VENV", sys.prefix))


def _spawn_worker(group, env, number, args, root):
    return group.start("runworker-%d" % number, [os.path.join(root, "deploy", "worker.sh")] + list(args),
                       env=_script_env(env), cwd=root)


def start_worker(group, env, number, timeout=90, args=(), root=REPO_ROOT):
    """deploy/worker.sh with runworker options `args`, once it takes messages."""
    worker = _spawn_worker(group, env, number, args, root)
    worker.wait_for_log(WORKER_READY_LINE, timeout)
    return worker


def start_daphne(group, env, name="daphne", daphne_args=(), timeout=90, port=None, root=REPO_ROOT, watch=()):
    """deploy/daphne.sh (the shipped flags) on a free port (or `port`, to
    restart one), ready once GET / answers 200 through a worker. Returns
    (process, port)."""
    script, env = os.path.join(root, "deploy", "daphne.sh"), _script_env(env)

    def argv(port):
        return ["/usr/bin/env", "DAPHNE_BIND=127.0.0.1", "DAPHNE_PORT=%d" % port, script] + list(daphne_args)

    def serves(port):
        # The index runs in a worker: a 200 proves the whole path
        # Daphne -> Redis -> runworker -> database -> back.
        return tcp_connectable("127.0.0.1", port) and http_status("127.0.0.1", port, "/") == 200

    if port is None:
        return start_listening(group, name, argv, serves, timeout, env=env, cwd=root, watch=watch)
    process = group.start(name, argv(port), env=env, cwd=root)
    wait_until(lambda: serves(port), timeout, "%s on port %d" % (name, port), watch=[process] + list(watch))
    return process, port


class ChatStack:
    """A running redis-server, runworkers, Daphne (and runpresence, once
    started), and how to reach and restart them."""

    host = "127.0.0.1"

    def __init__(self, group, root=REPO_ROOT, worker_args=(), redis_password=None):
        self.group = group
        self.root = root
        self.worker_args = list(worker_args)   # runworker options every worker gets
        self.redis_password = redis_password
        self.env = None
        self.redis = self.redis_port = self.daphne = self.http_port = self.presence = None
        self.workers = []

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

    def start_worker(self, timeout=90, args=()):
        """One more runworker, ready to take messages, with the stack's
        options and `args`, e.g. ["--only-channels=chat.background"]."""
        worker = start_worker(self.group, self.env, len(self.workers) + 1, timeout, self.worker_args + list(args),
                              self.root)
        self.workers.append(worker)
        return worker

    def start_presence(self, timeout=60):
        """deploy/presence.sh (runpresence), once it pushes presence (chat/presence.py)."""
        self.presence = self.group.start("runpresence", [os.path.join(self.root, "deploy", "presence.sh")],
                                         env=_script_env(self.env), cwd=self.root)
        self.presence.wait_for_log("Pushing presence", timeout)
        return self.presence

    def restart_redis(self, pause=0.0):
        """Stop redis-server, wait `pause` seconds, start a new empty one on the same port."""
        self.redis.stop()
        time.sleep(pause)
        self.redis, _ = start_redis(self.group, port=self.redis_port, password=self.redis_password)
        return self.redis

    def kill_and_restart_daphne(self, pause=0.0, timeout=90):
        """SIGKILL Daphne, wait `pause` seconds, start it again on the same port."""
        self.daphne.kill()
        time.sleep(pause)
        self.daphne, _ = start_daphne(self.group, self.env, timeout=timeout, port=self.http_port, root=self.root)
        return self.daphne

    @staticmethod
    def dispatch_count(worker, channel):
        """How many messages of `channel` this worker has run a consumer for
        so far (its log says, with runworker's -v 2)."""
        return worker.log_text().count("Dispatching message on %s to" % channel)


def start_chat(group, workers=2, worker_args=(), pool_args=(), daphne_args=(), presence=False,
               shipped_budgets=False, redis_password=None, root=REPO_ROOT, timeout=90, **env_overrides):
    """
    Start redis-server, migrate and collect static files, start `workers`
    runworkers (options `worker_args` + `pool_args`; later ones get
    `worker_args` and their own), Daphne, and runpresence if asked; ready
    once GET / answers 200 through a worker.
    """
    stack = ChatStack(group, root, worker_args, redis_password)
    stack.redis, stack.redis_port = start_redis(group, password=redis_password)
    if redis_password:
        env_overrides = dict({"REDIS_URL": "redis://:%s@127.0.0.1:%d/0" % (redis_password, stack.redis_port)},
                             **env_overrides)
    stack.env = group.env = chat_environment(group.workdir, stack.redis_port, shipped_budgets, **env_overrides)
    prepare_database(group, stack.env, root)
    stack.workers = [_spawn_worker(group, stack.env, number, stack.worker_args + list(pool_args), root)
                     for number in range(1, workers + 1)]
    for worker in stack.workers:
        worker.wait_for_log(WORKER_READY_LINE, timeout)
    stack.daphne, stack.http_port = start_daphne(group, stack.env, daphne_args=daphne_args, timeout=timeout,
                                                 root=root, watch=stack.workers)
    if presence:
        stack.start_presence()
    return stack


@contextlib.contextmanager
def chat_stack(workdir, workers=2, worker_args=(), **options):
    """A ChatStack for a test: the test budgets (unless shipped_budgets=True),
    every worker logging what it dispatches (runworker -v 2, for
    dispatch_count), options as start_chat's. Stopped on exit, and when
    starting fails half-way (then with every process's log)."""
    with ProcessGroup(workdir) as group:
        try:
            stack = start_chat(group, workers, worker_args=["-v", "2"], pool_args=worker_args, **options)
        except ProcessError as error:
            raise ProcessError("%s\n\nAll processes:\n%s" % (error, group.logs())) from None
        yield stack
