"""A private, non-persistent redis-server on a free port (never the machine's 6379)."""
import os
import shutil
import socket
import tempfile

from tests.support.processes import ProcessGroup, start_listening, system_program, wait_until


def redis_ping(port, host="127.0.0.1", timeout=1.0):
    """True when a Redis server answers PING on host:port (a password-protected
    one answers that it wants the password first)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def start_redis(group, timeout=20, port=None, password=None):
    """redis-server on a free port (or on `port`, to restart one that was
    stopped), asking for `password` if given. Returns (process, port)."""
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
    """A redis-server for a unittest module: start() in setUpModule, stop()
    in tearDownModule; `url` while it runs."""

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
