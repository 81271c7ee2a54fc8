import time
import weakref

from channels.signals import consumer_started
from django.apps import AppConfig
from django.db import connections

# A connection used this recently is taken to be alive: under steady chat
# the check below costs nothing.
IDLE_BEFORE_CHECK = 1.0
_last_used = weakref.WeakKeyDictionary()   # connection wrapper -> monotonic time


def drop_broken_connections(**kwargs):
    """Before each consumer, drop a kept database connection that has been
    idle a while and no longer works (a restarted PostgreSQL), so the
    consumer opens a fresh one instead of failing. channels only checks
    after a consumer, and only after an error: with CONN_MAX_AGE, every
    worker would fail its first message after a restart. One `SELECT 1`
    after an idle second; nothing on SQLite."""
    now = time.monotonic()
    for connection in connections.all():
        if connection.connection is None or connection.vendor == "sqlite":
            continue
        if now - _last_used.get(connection, 0.0) > IDLE_BEFORE_CHECK and not connection.is_usable():
            connection.close()
        _last_used[connection] = now


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self):
        from django.db.models.signals import post_save

        from chat.announcements import announce_saved

        consumer_started.connect(drop_broken_connections, dispatch_uid="chat.drop_broken_connections")
        post_save.connect(announce_saved, sender="chat.Announcement", dispatch_uid="chat.announce_saved")
