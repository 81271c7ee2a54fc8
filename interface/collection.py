"""
Full garbage collections in Daphne, every COLLECT_EVERY seconds.

Each closed WebSocket leaves a reference cycle (Daphne's protocol,
autobahn's, Twisted's channel) that only a full collection frees, and
CPython runs those seldom, so Daphne's memory grows with every socket that
came and went (docs/reliability.md). A full collection takes milliseconds.
"""
import gc


class Collection:
    """The layer's part that collects garbage (a mixin of interface.layer.ChatChannelLayer)."""

    COLLECT_EVERY = 30.0  # seconds between Daphne's full garbage collections

    def __init__(self, **config):
        super().__init__(**config)
        self._collect_at = self.clock() + self.COLLECT_EVERY

    def _collect_when_due(self, now):
        if now >= self._collect_at:
            self._collect_at = now + self.COLLECT_EVERY
            gc.collect()
