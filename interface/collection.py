"""
Full garbage collections in Daphne, at most every COLLECT_EVERY seconds,
and only after a socket closed.

Each closed WebSocket leaves a reference cycle (Daphne's protocol,
autobahn's, Twisted's channel) that only a full collection frees, and
CPython runs those seldom, so Daphne's memory grows with every socket that
came and went (docs/reliability.md). A full collection walks every live
object, so with thousands of open sockets it takes tens of milliseconds:
when none closed since the last one, it would free nothing and is skipped.
"""
import gc


class Collection:
    """The layer's part that collects garbage (a mixin of interface.layer.ChatChannelLayer)."""

    COLLECT_EVERY = 30.0  # seconds between Daphne's full garbage collections

    def __init__(self, **config):
        super().__init__(**config)
        self._collect_at = self.clock() + self.COLLECT_EVERY
        self._closed_since_collection = False

    def _socket_closed(self):
        self._closed_since_collection = True

    def _collect_when_due(self, now):
        if now >= self._collect_at and self._closed_since_collection:
            self._collect_at = now + self.COLLECT_EVERY
            self._closed_since_collection = False
            gc.collect()
