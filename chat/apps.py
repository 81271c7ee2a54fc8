from channels.signals import consumer_started
from django.apps import AppConfig
from django.db import connections


def drop_broken_connections(**kwargs):
    """Before each consumer, drop a database connection that no longer
    works (a restarted PostgreSQL), so the consumer opens a fresh one
    instead of failing. channels only checks after a consumer, and only
    after an error: with CONN_MAX_AGE, every worker would fail the first
    message after a restart. Costs one `SELECT 1` per message; nothing on
    SQLite."""
    for connection in connections.all():
        if connection.connection is not None and connection.vendor != "sqlite" and not connection.is_usable():
            connection.close()


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self):
        consumer_started.connect(drop_broken_connections, dispatch_uid="chat.drop_broken_connections")
