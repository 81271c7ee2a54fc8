"""
Which sockets this Daphne holds, published to the socket registry
(redis_layer/socket_registry.py) every PUBLISH_EVERY seconds from Daphne's
own receive loop, so that the workers' pruner (chat/pruning.py) can drop
the Group memberships of sockets gone without a disconnect.
"""
import logging

import redis

from redis_layer import socket_registry

log = logging.getLogger(__name__)


class Publishing:
    """The layer's part that publishes its sockets (a mixin of
    interface.layer.ChatChannelLayer, whose Budgets keep `_sockets`)."""

    def __init__(self, **config):
        super().__init__(**config)
        self._publish_at = self.clock()  # when to publish this process's sockets next

    def _publish_when_due(self, now, channels):
        if now >= self._publish_at:
            self._publish_at = now + socket_registry.PUBLISH_EVERY
            self._publish_sockets(channels)

    def _publish_sockets(self, channels):
        # Daphne receives on its process channel, "daphne.response.<id>!".
        for process_channel in channels:
            if not process_channel.endswith("!"):
                continue
            try:
                socket_registry.publish(self, process_channel, [
                    reply_channel for reply_channel in self._sockets
                    if reply_channel.startswith(process_channel)])
            except redis.exceptions.RedisError as error:
                # Never at the cost of the message just received; next time.
                log.warning("Could not publish this Daphne's sockets: %s", error)
