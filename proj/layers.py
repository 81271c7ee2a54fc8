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
(proj/daphne_endpoint.py).

When the workers fall behind and `websocket.receive` is full, a frame
within its budgets is not the sender's fault: instead of the close Daphne
would make (1013), the sender is answered `rate_limited` (try again in a
second) from here, the frame goes nowhere, and the socket's later events
are numbered as if it had never been sent, so that enforce_ordering does
not wait for it. Overload then costs resends, never a socket.

Only Daphne meters (asgi.py turns it on):
workers send to websocket.receive too, when enforce_ordering puts a parked
frame back, and there the layer is asgi_redis's exactly.

Also in Daphne: Group memberships live only in Redis, so a Redis that
restarted has forgotten which sockets are in which room. When Daphne can
read the layer again after an outage and a shard's run_id changed, every
socket it holds is closed, so that its client reconnects, rejoins its room
and catches up, instead of staying open and deaf.

And fewer round trips to Redis than asgi_redis makes: a send is one script
(asgi_redis: two), a receive one script when a message waits (three), a
Group send one script per shard for all its members (two per member), and
Daphne reads its process channel in Twisted mode, a batch at a time, on a
thread of its own (proj/twisted_receive.py) instead of polling every 50 ms.
"""
import gc
import json
import logging
import math
import random
import time
import uuid

import msgpack
import redis
from asgi_redis import RedisChannelLayer
from asgi_redis.core import UnsupportedRedis

from proj import socket_registry
from proj.twisted_receive import TwistedReceiver

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
    GROUP_SEND_CHUNK = 500  # members per script call: Redis serves no one else meanwhile
    # Daphne reads its process channel with receive_twisted (Twisted mode).
    extensions = RedisChannelLayer.extensions + [
        extension for extension in ["twisted"] if extension not in RedisChannelLayer.extensions]

    def __init__(self, frame_rate=0, frame_burst=0, address_frame_rate=0, address_frame_burst=0,
                 connect_rate=0, connect_burst=0, max_frame_size=0, clock=time.monotonic, **config):
        super().__init__(**config)
        self.frame_limit = (frame_rate, frame_burst)
        self.address_frame_limit = (address_frame_rate, address_frame_burst)
        self.connect_limit = (connect_rate, connect_burst)
        self.max_frame_size = max_frame_size
        self.clock = clock
        self._sockets = {}          # reply channel -> (its bucket, its client address, when it connected)
        self._skipped = {}          # reply channel -> its frames answered "busy", never sent on
        self._busy_answers = 0      # frames answered "busy" since the last log line about them
        self._busy_logged = float("-inf")
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
        connection = self.connection(0)
        self.send_counted = connection.register_script(LUA_SEND)
        self.send_many = connection.register_script(LUA_SEND_MANY)
        self.take_many = connection.register_script(LUA_TAKE)
        self.twisted_receiver = TwistedReceiver(self)

    def send_group(self, group, message):
        """To every member, one script call per shard (asgi_redis: a send,
        two round trips, per member), with the same capacity check for each.
        A member whose reply channel is full is logged, not skipped in
        silence: when one Daphne's process channel fills
        (CHANNEL_LAYER_REPLY_CAPACITY), its sockets miss broadcasts, and
        only this says so (README, "Worker pools")."""
        assert self.valid_group_name(group), "Group name not valid"
        by_shard = {}
        serialize = _ProcessChannelPacker(message) if not self.crypter else None
        for channel in self.group_channels(group):
            index, sent = self._prepare_send(channel, message, serialize)
            by_shard.setdefault(index, []).append((channel, sent))
        full = []
        for index, sends in by_shard.items():
            for start in range(0, len(sends), self.GROUP_SEND_CHUNK):
                chunk = sends[start:start + self.GROUP_SEND_CHUNK]
                args, order = self._send_many_args(chunk)
                refused = self.send_many(keys=[], client=self.connection(index), args=args)
                full.extend(order[position - 1] for position in refused)
        if full:
            log.warning("Group %s: %d member(s) not sent this message, their reply channel full (%s%s); "
                        "those sockets get it only when they catch up", group, len(full), full[0],
                        ", ..." if len(full) > 1 else "")

    def send_while_below(self, channel, messages, ceiling):
        """Send `messages` to one process-specific channel, in order and in
        one script call, while its list holds fewer than `ceiling`; the rest
        is not sent. Returns how many were sent: always the first ones, as
        nothing reads the list while the script runs. Lets a bulk sender
        (a catch-up) leave the rest of a reply list to accepts, end frames
        and live broadcasts."""
        assert "!" in channel, "Only a process-specific channel keeps one list on one shard"
        sends, index = [], None
        for message in messages:
            index, (message_key, list_key, capacity, content, list_channel) = self._prepare_send(channel, message)
            sends.append((channel, (message_key, list_key, min(capacity, ceiling), content, list_channel)))
        if not sends:
            return 0
        args, _ = self._send_many_args(sends)
        refused = self.send_many(keys=[], client=self.connection(index), args=args)
        return len(sends) - len(refused)

    def _send_many_args(self, sends):
        """LUA_SEND_MANY's arguments for the sends, (channel, _prepare_send's
        tuple) each, grouped by the list they go to, and the channels in
        that order."""
        lists = {}
        for channel, (message_key, list_key, capacity, content, list_channel) in sends:
            lists.setdefault((list_key, capacity, list_channel), []).append((channel, message_key, content))
        args = [self.expiry, self.channel_statistics_expiry, self.global_statistics_expiry,
                self.stats_prefix + self.global_stats_key + ":"]
        order = []
        for (list_key, capacity, list_channel), messages in lists.items():
            args += [list_key, capacity, self.stats_prefix + list_channel + ":", len(messages)]
            for channel, message_key, content in messages:
                args += [message_key, content]
                order.append(channel)
        return args, order

    def group_channels(self, group):
        """asgi_redis's, in one round trip instead of two."""
        key = self._group_key(group)
        pipeline = self.connection(self.consistent_hash(group)).pipeline(transaction=False)
        pipeline.zremrangebyscore(key, 0, int(time.time()) - self.group_expiry)
        pipeline.zrange(key, 0, -1)
        return [member.decode("utf8") for member in pipeline.execute()[1]]

    def _prepare_send(self, channel, message, serialize_for=None):
        """Where a message to `channel` goes (a shard's index) and what the
        send scripts need for it: asgi_redis's send, up to the Redis call.
        `serialize_for(channel)`, if given, packs the message for a process
        channel (a _ProcessChannelPacker)."""
        assert isinstance(message, dict), "message is not a dict"
        assert self.valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        if "!" in channel:
            # A process-specific channel: its process reads them all from one
            # list, each message naming its channel.
            content = serialize_for(channel) if serialize_for else self.serialize(
                dict(message, __asgi_channel__=channel))
            channel = self.non_local_name(channel)
        else:
            content = self.serialize(message)
        if "!" in channel or "?" in channel:
            index = self.consistent_hash(channel)
        else:
            index = next(self._send_index_generator)
        return index, (self.prefix + uuid.uuid4().hex, self.prefix + channel, self.get_capacity(channel),
                       content, channel)

    def _send(self, channel, message):
        """asgi_redis's send, the message and its statistics in one script."""
        index, (message_key, list_key, capacity, content, list_channel) = self._prepare_send(channel, message)
        stats = self.stats_prefix + list_channel + ":"
        global_stats = self.stats_prefix + self.global_stats_key + ":"
        try:
            self.send_counted(
                keys=[message_key, list_key,
                      stats + self.STAT_MESSAGES_COUNT, global_stats + self.STAT_MESSAGES_COUNT,
                      stats + self.STAT_CHANNEL_FULL, global_stats + self.STAT_CHANNEL_FULL],
                args=[content, self.expiry, capacity, self.channel_statistics_expiry, self.global_statistics_expiry],
                client=self.connection(index))
        except redis.exceptions.ResponseError as error:
            if error.args[0] == "full":
                raise self.ChannelFull
            if "unknown command" in error.args[0]:
                raise UnsupportedRedis("Redis returned an error (%s). Please ensure you're running a "
                                       " version of redis that is supported by asgi_redis." % error.args[0])
            raise

    def meter_clients(self):
        """For interface servers only: enforce the budgets on what this
        process sends, close its sockets after a Redis restart, and publish
        which sockets it holds (proj/socket_registry.py)."""
        self.metering = True

    def send(self, channel, message):
        if not self.metering:
            return self._send(channel, message)
        try:
            metered = self._meter(channel, message)
        except self.ChannelFull:
            if channel == "websocket.receive":  # over its budgets: Daphne closes it
                self._disconnect_for_daphne(self._renumbered(message))
            raise
        try:
            return self._send(channel, metered)
        except self.ChannelFull:
            if channel != "websocket.receive" or not self._answer_busy(metered):
                if channel == "websocket.receive":
                    self._disconnect_for_daphne(metered)
                raise

    BUSY_RETRY_AFTER = 1  # seconds a frame refused for a full websocket.receive is told to wait

    def _answer_busy(self, message):
        """The workers are behind: tell the sender to resend (rate_limited),
        and number its later events as if this frame had never come. False
        if even the answer does not fit (then Daphne closes the socket)."""
        reply_channel = message.get("reply_channel")
        error = {"type": "error", "code": "rate_limited", "retry_after": self.BUSY_RETRY_AFTER,
                 "detail": "The server is busy; this message was not saved. Try again in %d s."
                           % self.BUSY_RETRY_AFTER}
        client_id = _client_id_of(message.get("text"))
        if client_id is not None:
            error["client_id"] = client_id
        try:
            self._send(reply_channel, {"text": json.dumps(error)})
        except (self.ChannelFull, redis.exceptions.RedisError):
            return False
        self._skipped[reply_channel] = self._skipped.get(reply_channel, 0) + 1
        self._busy_answers += 1
        now = self.clock()
        if now - self._busy_logged >= 1.0:  # a line a second, not one a frame
            log.warning("websocket.receive is full (the workers are behind): %d frame(s) answered "
                        "rate_limited since the last line, their sockets kept", self._busy_answers)
            self._busy_logged, self._busy_answers = now, 0
        return True

    def _renumbered(self, message):
        """`message` with its order less the frames of its socket never sent on."""
        skipped = self._skipped.get(message.get("reply_channel"))
        if not skipped or "order" not in message:
            return message
        return dict(message, order=message["order"] - skipped)

    def _disconnect_for_daphne(self, message):
        """Daphne closes a socket whose frame met ChannelFull (1013), but
        sends no websocket.disconnect for it: the socket would stay in its
        room's Group, and its session would stay, until they expire. Send
        one in Daphne's stead, taking the refused frame's place in the
        socket's order (enforce_ordering waits for that number)."""
        reply_channel = message.get("reply_channel")
        self._sockets.pop(reply_channel, None)
        self._skipped.pop(reply_channel, None)
        try:
            self._send("websocket.disconnect", {
                "reply_channel": reply_channel, "path": message.get("path"),
                "code": 1013, "order": message.get("order"),
            })
        except (self.ChannelFull, redis.exceptions.RedisError) as error:
            log.warning("No disconnect for %s (%s): the registry drops it from its Groups later",
                        reply_channel, error)

    def _meter(self, channel, message):
        if channel == "websocket.receive":
            return self._admit_frame(self._renumbered(message))
        if channel == "websocket.connect":
            self._admit_connect(message)
        elif channel == "websocket.disconnect":
            message = self._renumbered(message)
            self._sockets.pop(message.get("reply_channel"), None)
            self._skipped.pop(message.get("reply_channel"), None)
        return message

    def receive(self, channels, block=False):
        try:
            received = self.receive_batch(channels, block)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            self.receive_failed(error)
            raise
        self.received(channels)
        return received[0] if received else (None, None)

    def receive_twisted(self, channels):
        """The `twisted` extension: a Deferred firing with (channel,
        message), or (None, None) after a second with nothing; Daphne calls
        it instead of polling receive (proj/twisted_receive.py)."""
        return self.twisted_receiver.receive(channels)

    def receive_batch(self, channels, block=False, limit=1):
        """asgi_redis's receive, in fewer round trips, and up to `limit`
        messages at once from process-specific channels ("name!": one
        process reads them all; other channels are shared by workers, and
        one takes one at a time). `block`: False, True (blpop_timeout) or
        seconds. A list of (channel, message), empty when nothing came."""
        indexes = self._receive_list_names(channels)
        if indexes is None:
            return []
        if limit > 1 and not all(channel.endswith("!") for channel in channels):
            limit = 1
        for index, list_names in indexes.items():
            random.shuffle(list_names)  # as asgi_redis: no channel starves the others
            taken = self._take(index, list_names, limit)
            if taken:
                return taken
        if not block:
            return []
        timeout = self.blpop_timeout if block is True else block
        if len(indexes) > 1:
            timeout = min(timeout, self.SHARDED_BLOCK)
        for index, list_names in indexes.items():
            popped = self.connection(index).blpop(list_names, timeout=_redis_seconds(timeout))
            if popped:
                taken = self._take(index, list_names, limit, popped)
                if taken:
                    return taken
        return []

    def _take(self, index, list_names, limit, popped=None):
        """One script: the message BLPOP `popped`, if any, and up to `limit`
        in all (expired ones skipped), each message's key deleted."""
        found = self.take_many(keys=list_names, client=self.connection(index), args=[
            limit, popped[1] if popped else "", popped[0] if popped else ""])
        taken = []
        for list_name, content in zip(found[::2], found[1::2]):
            message = self.deserialize(content)
            channel = message.pop("__asgi_channel__", None) or list_name[len(self.prefix):].decode("utf8")
            taken.append((channel, message))
        return taken

    def received(self, channels):
        """What an interface server does after each read of the layer, also
        one that found nothing: close its sockets if Redis restarted, publish
        them, collect garbage. Runs where Daphne's sends run (its reactor)."""
        if not self.metering:
            return
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

    def receive_failed(self, error):
        """A read of the layer failed: an outage begins, if Redis is unreachable."""
        if not self.metering:
            return
        if isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)) and not self._outage:
            self._outage = True
            self._outage_since = self.clock()

    def flush(self):
        super().flush()
        self.twisted_receiver.clear()

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
                    self._send(reply_channel, {"close": True})
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


class _ProcessChannelPacker:
    """One message for many process-channel members, packed once: each
    member's copy is the packed message with one more map entry,
    __asgi_channel__, in front (what asgi_redis's serialize gives, in
    another key order). msgpack here is pure Python: a room of 1,000
    sockets cost 30 ms of a worker's CPU a broadcast, packed per member."""

    def __init__(self, message):
        packed = msgpack.packb(message, use_bin_type=True)
        header = len(_map_header(len(message)))
        self.header = _map_header(len(message) + 1) + msgpack.packb("__asgi_channel__", use_bin_type=True)
        self.body = packed[header:]

    def __call__(self, channel):
        return self.header + _packed_str(channel) + self.body


def _packed_str(text):
    """msgpack's str (the spec's fixstr, str 8, 16, 32), without a Packer."""
    data = text.encode("utf8")
    size = len(data)
    if size < 32:
        return bytes([0xa0 | size]) + data
    if size < 0x100:
        return b"\xd9" + bytes([size]) + data
    if size < 0x10000:
        return b"\xda" + size.to_bytes(2, "big") + data
    return b"\xdb" + size.to_bytes(4, "big") + data


def _map_header(size):
    return msgpack.Packer(use_bin_type=True).pack_map_header(size)


def _redis_seconds(seconds):
    """A BLPOP timeout: whole seconds as an integer (any Redis), else a
    fraction (Redis 6 or later)."""
    return int(seconds) if float(seconds).is_integer() else seconds


def _tenths_up(seconds):
    """Seconds in tenths, rounded up: a client that waits what it is told
    is let through (rounding down would have it refused again)."""
    return max(0.1, math.ceil(round(seconds * 10, 6)) / 10)


def _client_id_of(text):
    """The client_id of a chat frame's JSON text, when it has a plain one."""
    try:
        client_id = json.loads(text).get("client_id")
    except (TypeError, ValueError, AttributeError, RecursionError):
        return None
    return client_id if isinstance(client_id, str) and len(client_id) <= 64 else None


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


# Keys: the message, the channel's list, then its statistics: messages
# counted, channel and global; full, channel and global.
# Args: content, expiry, capacity, channel and global statistics expiry.
# asgi_redis's chansend and incrstatcounters in one.
LUA_SEND = """
local function count(key, expiry)
    redis.call('incr', key)
    redis.call('expire', key, expiry)
end
if redis.call('llen', KEYS[2]) >= tonumber(ARGV[3]) then
    count(KEYS[5], ARGV[4])
    count(KEYS[6], ARGV[5])
    return redis.error_reply("full")
end
redis.call('set', KEYS[1], ARGV[1])
redis.call('expire', KEYS[1], ARGV[2])
redis.call('rpush', KEYS[2], KEYS[1])
redis.call('expire', KEYS[2], ARGV[2] + 1)
count(KEYS[3], ARGV[4])
count(KEYS[4], ARGV[5])
"""

# A message to many channels of one shard: LUA_SEND for each, in fewer
# commands (a process channel's copies share one list: its length is read
# once, its expiry and statistics set once).
# Args: expiry, channel and global statistics expiry, the global statistics
# prefix; then for each list: its key, capacity, statistics prefix, how
# many messages, then each message's key and content.
# Returns the positions (from 1, in argument order) of the messages refused
# because their list was full.
LUA_SEND_MANY = """
local expiry, channel_stats_expiry, global_stats_expiry, global_stats = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local function count(key, amount, expiry)
    if amount > 0 then
        redis.call('incrby', key, amount)
        redis.call('expire', key, expiry)
    end
end
local refused, position, i = {}, 0, 5
local sent_all, refused_all = 0, 0
while i <= #ARGV do
    local list_key, capacity, stats, messages = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], tonumber(ARGV[i + 3])
    i = i + 4
    local length = redis.call('llen', list_key)
    local sent = 0
    for _ = 1, messages do
        position = position + 1
        if length >= capacity then
            refused[#refused + 1] = position
        else
            redis.call('set', ARGV[i], ARGV[i + 1], 'EX', expiry)
            redis.call('rpush', list_key, ARGV[i])
            length = length + 1
            sent = sent + 1
        end
        i = i + 2
    end
    if sent > 0 then
        redis.call('expire', list_key, expiry + 1)
    end
    count(stats .. 'messages_count', sent, channel_stats_expiry)
    count(stats .. 'channel_full_count', messages - sent, channel_stats_expiry)
    sent_all, refused_all = sent_all + sent, refused_all + messages - sent
end
count(global_stats .. 'messages_count', sent_all, global_stats_expiry)
count(global_stats .. 'channel_full_count', refused_all, global_stats_expiry)
return refused
"""

# Keys: the lists to read, in order. Args: how many messages at most; a
# message key BLPOP already popped (or ""), and its list.
# Returns list, content, list, content, ...: each message's key deleted,
# the expired ones (their content gone) skipped.
LUA_TAKE = """
local limit = tonumber(ARGV[1])
local taken = {}
local function take(list_key, message_key)
    local content = redis.call('get', message_key)
    if content then
        redis.call('del', message_key)
        taken[#taken + 1] = list_key
        taken[#taken + 1] = content
    end
end
if ARGV[2] ~= '' then
    take(ARGV[3], ARGV[2])
end
for i = 1, #KEYS do
    while #taken < 2 * limit do
        local message_key = redis.call('lpop', KEYS[i])
        if not message_key then
            break
        end
        take(KEYS[i], message_key)
    end
end
return taken
"""
