"""
nginx with the shipped nginx.conf, as a test's child: `deploy/nginx.sh`
renders it (deploy/render-nginx.sh) into a private prefix, upstream from
the same DAPHNE_BIND, DAPHNE_PORT and DAPHNE_PROCESSES supervisord got, and
runs nginx in the foreground on a free port.

Run as root, nginx's worker processes drop to an unprivileged user, as in
production, and pytest's directories are root's alone: the prefix and the
static root live in a directory of their own that anyone may read.

    with public_directory() as public:
        env["DJANGO_STATIC_ROOT"] = os.path.join(public, "static")   # before collectstatic
        ...
        nginx = start_nginx(group, supervisord.env, public)
        nginx.url("/static/chat/chat.js")
"""
import contextlib
import os
import shutil
import tempfile

from tests.support.processes import REPO_ROOT, MissingProgram, http_status, start_listening, tcp_connectable

NGINX_SH = os.path.join(REPO_ROOT, "deploy", "nginx.sh")


def nginx_program():
    """nginx from PATH, or where Debian puts it (/usr/sbin is not on every user's PATH)."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        raise MissingProgram("nginx was not found. The tests run the shipped nginx.conf; `make test` installs "
                             "it (Debian package nginx), or: sudo apt-get install nginx")
    return found


@contextlib.contextmanager
def public_directory():
    """A fresh directory under the system's temporary directory, readable
    and searchable by every user (nginx's workers); removed afterwards."""
    path = tempfile.mkdtemp(prefix="chat-test-nginx-")
    try:
        os.chmod(path, 0o755)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Nginx:
    host = "127.0.0.1"

    def __init__(self, process, port, prefix):
        self.process = process
        self.port = port
        self.prefix = prefix

    @property
    def pid(self):
        return self.process.pid

    def log(self, name="access"):
        """logs/access.log or logs/error.log under the prefix."""
        try:
            with open(os.path.join(self.prefix, "logs", "%s.log" % name), encoding="utf-8",
                      errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""


def start_nginx(group, env, directory, timeout=60):
    """deploy/nginx.sh with prefix `directory`/nginx, listening on a free
    loopback port, ready once GET / answers 200 through a Daphne."""
    prefix = os.path.join(directory, "nginx")
    env = dict(env, NGINX_PREFIX=prefix, NGINX_BIN=nginx_program())

    def argv(port):
        # env(1) execs deploy/nginx.sh, which execs nginx: the pid is nginx's master.
        return ["/usr/bin/env", "NGINX_LISTEN=127.0.0.1:%d" % port, NGINX_SH]

    def serves(port):
        return tcp_connectable("127.0.0.1", port) and http_status("127.0.0.1", port, "/") == 200

    process, port = start_listening(group, "nginx", argv, serves, timeout, env=env)
    return Nginx(process, port, prefix)
