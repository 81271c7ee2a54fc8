"""
The SQLite backend (proj/sqlite3): every connection to a database file is
in write-ahead-log mode with synchronous=NORMAL, so a worker commits while
another is reading.
"""
import copy

from django.db import connections

from proj.sqlite3.base import DatabaseWrapper


def connect(path):
    """A new connection to the database file at `path`, as the backend opens it."""
    settings = copy.deepcopy(connections["default"].settings_dict)
    settings.update(ENGINE="proj.sqlite3", NAME=str(path), OPTIONS={"timeout": 1})
    database = DatabaseWrapper(settings, alias="sqlite-file")
    connection = database.get_new_connection(database.get_connection_params())
    connection.isolation_level = None  # statements as written: BEGIN and COMMIT by hand
    return connection


def test_a_new_connection_uses_the_write_ahead_log_with_normal_sync(tmp_path):
    connection = connect(tmp_path / "chat.sqlite3")
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    finally:
        connection.close()


def test_a_writer_commits_while_a_reader_is_in_the_middle_of_a_read(tmp_path):
    writer, reader = connect(tmp_path / "chat.sqlite3"), connect(tmp_path / "chat.sqlite3")
    try:
        writer.execute("CREATE TABLE t (x INTEGER)")
        writer.execute("INSERT INTO t VALUES (1)")
        reader.execute("BEGIN")
        assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]
        # With the rollback journal this commit waits for the reader, then
        # fails "database is locked".
        writer.execute("INSERT INTO t VALUES (2)")
        assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]  # its snapshot
        reader.execute("COMMIT")
        assert reader.execute("SELECT x FROM t").fetchall() == [(1,), (2,)]
    finally:
        writer.close()
        reader.close()
