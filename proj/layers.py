"""
The channel layer: asgi_redis's, metering what Daphne puts on it.

Daphne 1.4 sends every WebSocket frame of every socket to the one
`websocket.receive` channel. A flooding client fills it, and Daphne then
closes whichever socket sends next: mostly bystanders. Here, in Daphne's
own process, each socket and each client address gets a budget (a token
bucket). A frame over it is marked, and the worker answers it with a
`rate_limited` error instead of saving it. A client that goes on regardless
(a quarter burst further) is refused with ChannelFull before its frame
reaches Redis, and Daphne closes that one socket (1013, "try again later").
So is a text frame of more characters than the size limit; Daphne started
through deploy/daphne.sh refuses it earlier still, before reading it
(proj/daphne_endpoint.py). Only Daphne meters (asgi.py turns it on):
workers send to websocket.receive too, when enforce_ordering puts a parked
frame back, and there the layer is asgi_redis's exactly.

Also in Daphne: Group memberships live only in Redis, so a Redis that
restarted has forgotten which sockets are in which room. When Daphne can
read the layer again after an outage and a shard's run_id changed, every
socket it holds is closed, so that its client reconnects, rejoins its room
and catches up, instead of staying open and deaf.
"""
import gc
import logging
import math
import time

import redis
from asgi_redis import RedisChannelLayer

from proj import socket_registry

log = logging.getLogger(__name__)


# Added to a frame over its budget; the worker answers it with rate_limited.
RETRY_AFTER_KEY = "chat_retry_after"


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up. Spending goes on
    into debt, up to a quarter of a burst more."""

    __slots__ = ("tokens", "stamp")

    def __init__(self, burst, now):
        self.tokens = float(burst)
        self.stamp = now

    def take(self, rate, burst, now):
        """0 when a token was there; else (over budget) the seconds until
        the next frame would find one: the debt paid and a token more; None
        once the debt is over a quarter burst."""
        self.tokens = min(burst, self.tokens + (now - self.stamp) * rate) - 1
        self.stamp = now
        if self.tokens >= 0:
            return 0
        if self.tokens < -max(1.0, burst / 4.0):
            return None
        return (1 - self.tokens) / rate

    def full(self, rate, burst, now):
        return self.tokens + (now - self.stamp) * rate >= burst


class ChatChannelLayer(RedisChannelLayer):
    """RedisChannelLayer with per-socket and per-address limits on what
    interface servers send. Every budget is off (0) unless configured: the
    settings hold the numbers (CHAT_SOCKET_*, CHAT_ADDRESS_*, CHAT_MAX_FRAME_SIZE)."""

    PRUNE_EVERY = 60.0  # seconds between sweeps of idle address budgets
    COLLECT_EVERY = 30.0  # seconds between Daphne's full garbage collections
    SHARDED_BLOCK = 0.05  # seconds a worker blocks on each shard in turn
    # Seconds a worker blocks waiting for a message (asgi_redis: 5). A
    # stopping worker lets its wait end rather than drop what it may just
    # have taken (chat/worker.py), so an idle one stops within this.
    blpop_timeout = 1

    def __init__(self, frame_rate=0, frame_burst=0, address_frame_rate=0, address_frame_burst=0,
                 connect_rate=0, connect_burst=0, max_frame_size=0, clock=time.monotonic, **config):
        super().__init__(**config)
        self.frame_limit = (frame_rate, frame_burst)
        self.address_frame_limit = (address_frame_rate, address_frame_burst)
        self.connect_limit = (connect_rate, connect_burst)
        self.max_frame_size = max_frame_size
        self.clock = clock
        self._sockets = {}          # reply channel -> (its bucket, its client address, when it connected)
        self._address_frames = {}   # client address -> bucket
        self._address_connects = {}
        self._pruned = clock()
        self.metering = False
        self._run_ids = None     # each shard's Redis run_id, as last seen
        self._outage = False
        self._outage_since = None  # when this process first failed to read Redis
        self._publish_at = clock()  # when to publish this process's sockets next
        self._collect_at = clock() + self.COLLECT_EVERY
        if self.ring_size > 1:
            # asgi_redis blocks on one shard at a time, blpop_timeout each,
            # while messages wait on the next: handshakes time out.
            # Block briefly instead (fractional timeouts: Redis 6 or later).
            self.blpop_timeout = self.SHARDED_BLOCK

    def send_group(self, group, message):
        """asgi_redis's, but a member whose reply channel is full is logged,
        not skipped in silence: when one Daphne's process channel fills
        (CHANNEL_LAYER_REPLY_CAPACITY), its sockets miss broadcasts, and
        only this says so (README, "Worker pools")."""
        assert self.valid_group_name(group), "Group name not valid"
        full = []
        for channel in self.group_channels(group):
            try:
                self.send(channel, message)
            except self.ChannelFull:
                full.append(channel)
        if full:
            log.warning("Group %s: %d member(s) not sent this message, their reply channel full (%s%s); "
                        "those sockets get it only when they catch up", group, len(full), full[0],
                        ", ..." if len(full) > 1 else "")

    def meter_clients(self):
        """For interface servers only: enforce the budgets on what this
        process sends, close its sockets after a Redis restart, and publish
        which sockets it holds (proj/socket_registry.py)."""
        self.metering = True

    def send(self, channel, message):
        if not self.metering:
            return super().send(channel, message)
        try:
            return super().send(channel, self._meter(channel, message))
        except self.ChannelFull:
            if channel == "websocket.receive":
                self._disconnect_for_daphne(message)
            raise

    def _disconnect_for_daphne(self, message):
        """Daphne closes a socket whose frame met ChannelFull (1013), but
        sends no websocket.disconnect for it: the socket would stay in its
        room's Group, and its session would stay, until they expire. Send
        one in Daphne's stead, taking the refused frame's place in the
        socket's order (enforce_ordering waits for that number)."""
        reply_channel = message.get("reply_channel")
        self._sockets.pop(reply_channel, None)
        try:
            super().send("websocket.disconnect", {
                "reply_channel": reply_channel, "path": message.get("path"),
                "code": 1013, "order": message.get("order"),
            })
        except (self.ChannelFull, redis.exceptions.RedisError) as error:
            log.warning("No disconnect for %s (%s): the registry drops it from its Groups later",
                        reply_channel, error)

    def _meter(self, channel, message):
        if channel == "websocket.receive":
            return self._admit_frame(message)
        if channel == "websocket.connect":
            self._admit_connect(message)
        elif channel == "websocket.disconnect":
            self._sockets.pop(message.get("reply_channel"), None)
        return message

    def receive(self, channels, block=False):
        if not self.metering:
            return super().receive(channels, block)
        try:
            received = super().receive(channels, block)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            if not self._outage:
                self._outage = True
                self._outage_since = self.clock()
            raise
        if self._outage or self._run_ids is None:
            self._outage = False
            self._check_for_restarts()
        now = self.clock()
        if now >= self._publish_at:
            self._publish_at = now + socket_registry.PUBLISH_EVERY
            self._publish_sockets(channels)
        if now >= self._collect_at:
            self._collect_at = now + self.COLLECT_EVERY
            # Each closed WebSocket leaves a reference cycle (Daphne's
            # protocol, autobahn's, Twisted's channel) that only a full
            # collection frees, and CPython runs those seldom: Daphne's memory
            # grew 16 MiB in a 10-minute soak (bench/soak.py), all of it
            # such garbage. A full collection here takes milliseconds.
            gc.collect()
        return received

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

    def _check_for_restarts(self):
        run_ids = [self.connection(index).info("server")["run_id"] for index in range(self.ring_size)]
        restarted = self._run_ids is not None and run_ids != self._run_ids
        self._run_ids = run_ids
        # Only sockets that connected before the outage: Daphne reads the
        # layer again 5 s after an error, and sockets that connected to the
        # new Redis meanwhile joined their rooms there (closing those too
        # cost clients a second reconnect, bench/faults.py).
        stale = [reply_channel for reply_channel, (_, _, connected) in self._sockets.items()
                 if restarted and connected < self._outage_since]
        if stale:
            log.warning("Redis restarted: closing %d sockets so that they rejoin their rooms", len(stale))
            for reply_channel in stale:
                try:
                    super().send(reply_channel, {"close": True})
                except self.ChannelFull:
                    log.warning("Could not close %s: its reply list is full", reply_channel)

    def _admit_connect(self, message):
        now = self.clock()
        self._prune(now)
        address = _address_of(message)
        if _take(self._address_connects, address, self.connect_limit, now) != 0:
            log.warning("Refusing a WebSocket from %s: over %s connections a second", address, self.connect_limit[0])
            raise self.ChannelFull("connection rate of %s" % address)
        self._sockets[message["reply_channel"]] = (TokenBucket(self.frame_limit[1], now), address, now)

    def _admit_frame(self, message):
        reply_channel = message.get("reply_channel")
        payload = message.get("text")
        if payload is None:
            payload = message.get("bytes") or b""
        if self.max_frame_size and len(payload) > self.max_frame_size:
            log.warning("Closing %s: a frame of %d characters or bytes", reply_channel, len(payload))
            raise self.ChannelFull("frame of %d over %d" % (len(payload), self.max_frame_size))
        now = self.clock()
        bucket, address, _ = self._sockets.get(reply_channel) or (None, None, None)
        if bucket is None:
            # A socket that opened before this process's layer knew it.
            bucket = TokenBucket(self.frame_limit[1], now)
            self._sockets[reply_channel] = (bucket, address, now)
        waits = [bucket.take(*self.frame_limit, now=now) if self.frame_limit[0] else 0,
                 _take(self._address_frames, address, self.address_frame_limit, now)]
        if None in waits:
            log.warning("Closing %s (client %s): far over its frame budget", reply_channel, address)
            raise self.ChannelFull("frame rate of %s" % reply_channel)
        if max(waits) > 0:
            return dict(message, **{RETRY_AFTER_KEY: _tenths_up(max(waits))})
        return message

    def _prune(self, now):
        """Forget address budgets that have refilled: nothing to remember."""
        if now - self._pruned < self.PRUNE_EVERY:
            return
        self._pruned = now
        for buckets, (rate, burst) in ((self._address_frames, self.address_frame_limit),
                                       (self._address_connects, self.connect_limit)):
            for address in [a for a, bucket in buckets.items() if bucket.full(rate, burst, now)]:
                del buckets[address]


def _tenths_up(seconds):
    """Seconds in tenths, rounded up: a client that waits what it is told
    is let through (rounding down would have it refused again)."""
    return max(0.1, math.ceil(round(seconds * 10, 6)) / 10)


def _address_of(message):
    client = message.get("client")
    return client[0] if client else None


def _take(buckets, key, limit, now):
    if key is None or not limit[0]:
        return 0
    bucket = buckets.get(key)
    if bucket is None:
        bucket = buckets[key] = TokenBucket(limit[1], now)
    return bucket.take(*limit, now=now)
