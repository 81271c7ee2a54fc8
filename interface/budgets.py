"""
Per-socket and per-address budgets on what clients send, kept in Daphne.

Daphne 1.4 sends every WebSocket frame of every socket to the one
`websocket.receive` channel. A flooding client fills it, and Daphne then
closes whichever socket sends next: mostly bystanders. So each socket and
each client address gets a budget (a token bucket). A frame over it is
marked (RETRY_AFTER_KEY), and the worker answers it with a `rate_limited`
error instead of saving it. A client that goes on regardless (a quarter
burst further) is refused with ChannelFull before its frame reaches Redis,
and Daphne closes that one socket (1013, "try again later"). So is a text
frame of more characters than the size limit; Daphne started through
deploy/daphne.sh refuses it earlier still, before reading it
(interface/endpoint.py). Connections get a per-address budget too.

Every budget is off (0) unless configured: the settings hold the numbers
(CHAT_SOCKET_*, CHAT_ADDRESS_*, CHAT_MAX_FRAME_SIZE).
"""
import logging
import math

from redis_layer.layer import RETRY_AFTER_KEY

log = logging.getLogger(__name__)


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up. Spending goes on
    into debt, up to a quarter of a burst more; what is refused beyond that
    adds no debt, so a client refused while it retried in a loop gets its
    budget back within a few seconds of stopping, not after a penalty as
    long as its flood."""

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
        most_debt = max(1.0, burst / 4.0)
        if self.tokens < -most_debt:
            self.tokens = -most_debt - 1
            return None
        return (1 - self.tokens) / rate

    def full(self, rate, burst, now):
        return self.tokens + (now - self.stamp) * rate >= burst


class Budgets:
    """The layer's part that admits connects and frames (a mixin of
    interface.layer.ChatChannelLayer, which supplies clock and ChannelFull)."""

    PRUNE_EVERY = 60.0  # seconds between sweeps of idle address budgets

    def __init__(self, frame_rate=0, frame_burst=0, address_frame_rate=0, address_frame_burst=0,
                 connect_rate=0, connect_burst=0, max_frame_size=0, **config):
        super().__init__(**config)
        self.frame_limit = (frame_rate, frame_burst)
        self.address_frame_limit = (address_frame_rate, address_frame_burst)
        self.connect_limit = (connect_rate, connect_burst)
        self.max_frame_size = max_frame_size
        self._sockets = {}          # reply channel -> (its bucket, its client address, when it connected)
        self._address_frames = {}   # client address -> bucket
        self._address_connects = {}
        self._pruned = self.clock()

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
