"""
Every new SQLite connection runs in write-ahead-log mode with
synchronous=NORMAL (what Django 5.1's `init_command` documentation
suggests; Django 2.2 has no such option, so the backend's own connection
hook does it).

WAL lets the workers read while one writes, instead of queueing every
reader behind the write lock. synchronous=NORMAL syncs the log at
checkpoints instead of at every commit: a killed process loses nothing it
committed, a power cut or kernel crash may lose the last commits. In
exchange, a chat message's save and a socket's presence row wait for no
disk sync of their own; deployments that need every commit on disk at once
run PostgreSQL.
"""
from django.db.backends.sqlite3 import base

PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        for pragma in PRAGMAS:
            connection.execute(pragma)
        return connection
