"""
What a running ProjectStack holds, read from outside as an operator would:
the database's rows (a read-only connection) and Redis's keys, Group
members and channel sessions.
"""
import sqlite3
import urllib.parse

import redis

# Django's cache session store names its keys "django.contrib.sessions.cache" + session key;
# django-redis puts "<KEY_PREFIX>:<version>:" in front.
REDIS_SESSION_KEYS = "*django.contrib.sessions.cache*"


class Stores:
    def __init__(self, stack):
        self.database_url = stack.env["DATABASE_URL"]
        self.sqlite = self.database_url.startswith("sqlite:///")
        self.redis = redis.StrictRedis(host="127.0.0.1", port=stack.redis_port, socket_timeout=30)

    def query(self, sql, params=()):
        if self.sqlite:
            path = self.database_url[len("sqlite:///"):]
            connection = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path), uri=True, timeout=30)
        else:
            import psycopg2
            connection = psycopg2.connect(self.database_url, connect_timeout=10)
            connection.set_session(readonly=True, autocommit=True)
        try:
            cursor = connection.cursor()
            cursor.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
            return cursor.fetchall()
        finally:
            connection.close()

    def count(self, table):
        return self.query("SELECT COUNT(*) FROM %s" % table)[0][0]

    def messages(self, labels):
        """(id, handle, client_id) of every message saved in these rooms, in id order."""
        return self.query("SELECT m.id, m.handle, m.client_id FROM chat_message m JOIN chat_room r "
                          "ON r.id = m.room_id WHERE r.label IN (%s) ORDER BY m.id" % ",".join("?" * len(labels)),
                          tuple(labels))

    def sessions(self):
        """Channel sessions: (rows of django_session, keys of the cache session store in Redis)."""
        return (self.count("django_session"),
                sum(1 for _ in self.redis.scan_iter(match=REDIS_SESSION_KEYS, count=1000)))

    def groups(self):
        """(Groups, memberships, distinct sockets among the members): a socket may be in
        several Groups (its room's, its user's)."""
        groups, memberships, sockets = 0, 0, set()
        for key in self.redis.scan_iter(match="asgi::group:*", count=1000):
            members = self.redis.zrange(key, 0, -1)
            groups += 1
            memberships += len(members)
            sockets.update(members)
        return groups, memberships, len(sockets)

    def redis_keys(self):
        return self.redis.dbsize()

    def redis_memory(self):
        return int(self.redis.info("memory")["used_memory"])
