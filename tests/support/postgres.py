"""
A private PostgreSQL server for tests: initdb into a temporary directory,
`postgres` on a free loopback port (never the machine's 5432), stopped by
pid. As root, it runs as the `postgres` user, as PostgreSQL insists.

    with private_postgres(workdir) as server:
        url = server.create_database("chat_a")   # postgres://...:<port>/chat_a
        server.stop(); server.start()
"""
import contextlib
import glob
import os
import pwd
import shutil
import signal
import tempfile

import psycopg2

from tests.support.processes import MissingProgram, ProcessGroup, free_port, system_program, wait_until

# Speed over durability: the data lives as long as the test run.
FAST = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]


def postgres_program(name):
    """A PostgreSQL server program: on PATH, or where Debian puts it."""
    found = shutil.which(name) or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name), reverse=True)), None)
    if found is None:
        raise MissingProgram(
            "%s was not found (on PATH or in /usr/lib/postgresql/*/bin). The tests start a private "
            "PostgreSQL; `make test` installs it (Debian package postgresql), or: sudo apt-get install "
            "postgresql" % name)
    return found


class PostgresServer:
    def __init__(self, group, data_dir, port, as_user):
        self.group, self.data_dir, self.port, self.as_user = group, data_dir, port, as_user
        self.process = None

    def url(self, database):
        return "postgres://postgres@127.0.0.1:%d/%s" % (self.port, database)

    def connect(self, database="postgres"):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database,
                                connect_timeout=5)

    def create_database(self, name):
        connection = self.connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute('CREATE DATABASE "%s"' % name)
        finally:
            connection.close()
        return self.url(name)

    def start(self, timeout=60):
        argv = self.as_user + [postgres_program("postgres"), "-D", self.data_dir, "-p", self.port,
                               "-k", self.data_dir, "-c", "listen_addresses=127.0.0.1"] + FAST
        self.process = self.group.start("postgres", argv)
        wait_until(self._accepts, timeout, "PostgreSQL on port %d" % self.port, watch=[self.process])

    def _accepts(self):
        self.connect().close()
        return True

    def stop(self, timeout=30):
        """Fast shutdown (SIGINT): open connections are cut, as in a crash."""
        if self.process is not None and self.process.alive():
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.popen.wait(timeout)
        self.process = None


def start_postgres(group):
    """Initialise a cluster in a fresh directory and start it. Returns a PostgresServer."""
    as_user = []
    data_dir = tempfile.mkdtemp(prefix="postgres-", dir=group.workdir)
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root; pytest's directories are root's only.
        account = pwd.getpwnam("postgres")
        as_user = [system_program("setpriv", "util-linux"), "--reuid", str(account.pw_uid),
                   "--regid", str(account.pw_gid), "--init-groups", "--"]
        data_dir = tempfile.mkdtemp(prefix="chat-test-postgres-")
        os.chown(data_dir, account.pw_uid, account.pw_gid)
    group.run("initdb", as_user + [postgres_program("initdb"), "-D", data_dir, "-U", "postgres",
                                   "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
    server = PostgresServer(group, data_dir, free_port(), as_user)
    server.start()
    return server


@contextlib.contextmanager
def private_postgres(workdir):
    """A started server for a `with` block; stopped, and its data deleted, after."""
    with ProcessGroup(workdir) as group:
        server = start_postgres(group)
        try:
            yield server
        finally:
            server.stop()
            shutil.rmtree(server.data_dir, ignore_errors=True)
