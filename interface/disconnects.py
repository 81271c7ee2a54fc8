"""
Sockets Daphne would otherwise leave half-alive.

- Daphne closes a socket whose frame met ChannelFull (1013) but sends no
  websocket.disconnect for it: the socket would stay in its room's Group,
  and its channel session would stay, until they expire. One is sent in
  Daphne's stead.
- Group memberships live only in Redis, so a Redis that restarted has
  forgotten which sockets are in which room. When Daphne can read the
  layer again after an outage and a shard's run_id changed, every socket
  it held before the outage is closed, so that its client reconnects,
  rejoins its room and catches up, instead of staying open and deaf.
"""
import logging

import redis

log = logging.getLogger(__name__)


class Disconnects:
    """The layer's part that ends sockets for Daphne (a mixin of
    interface.layer.ChatChannelLayer, whose Budgets keep `_sockets`)."""

    def __init__(self, **config):
        super().__init__(**config)
        self._run_ids = None       # each shard's Redis run_id, as last seen
        self._outage = False
        self._outage_since = None  # when this process first failed to read Redis

    def _disconnect_for_daphne(self, message):
        """Send the websocket.disconnect of a socket Daphne closed for a
        refused frame, taking that frame's place in the socket's order
        (enforce_ordering waits for that number)."""
        reply_channel = message.get("reply_channel")
        self._forget_socket(reply_channel)
        try:
            self._send("websocket.disconnect", {
                "reply_channel": reply_channel, "path": message.get("path"),
                "code": 1013, "order": message.get("order"),
            })
        except (self.ChannelFull, redis.exceptions.RedisError) as error:
            log.warning("No disconnect for %s (%s): the registry drops it from its Groups later",
                        reply_channel, error)

    def receive_failed(self, error):
        """A read of the layer failed: an outage begins, if Redis is unreachable."""
        if not self.interface_server:
            return
        if isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)) and not self._outage:
            self._outage = True
            self._outage_since = self.clock()

    def _after_read(self):
        """After a read that worked: the first one, or the first after an
        outage, compares each shard's run_id with the last seen."""
        if self._outage or self._run_ids is None:
            self._outage = False
            self._check_for_restarts()

    def _check_for_restarts(self):
        run_ids = [self.connection(index).info("server")["run_id"] for index in range(self.ring_size)]
        restarted = self._run_ids is not None and run_ids != self._run_ids
        self._run_ids = run_ids
        # Only sockets that connected before the outage: Daphne reads the
        # layer again 5 s after an error, and sockets that connected to the
        # new Redis meanwhile joined their rooms there; closing those too
        # would cost their clients a second reconnect.
        stale = [reply_channel for reply_channel, (_, _, connected) in self._sockets.items()
                 if restarted and connected < self._outage_since]
        if stale:
            log.warning("Redis restarted: closing %d sockets so that they rejoin their rooms", len(stale))
            for reply_channel in stale:
                try:
                    self._send(reply_channel, {"close": True})
                except self.ChannelFull:
                    log.warning("Could not close %s: its reply list is full", reply_channel)
