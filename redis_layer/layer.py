"""
The channel layer every process uses: asgi_redis's RedisChannelLayer, in
fewer round trips to Redis. A send is one script (asgi_redis: two), a
receive one script when a message waits (three), a Group send one script
per shard for all its members (two per member), a Group add one round
trip (two), and a receive may take a batch from a process channel, which
Daphne's reader uses (interface/twisted_receive.py).

Settings name interface.layer.ChatChannelLayer, this class with Daphne's
jobs on top, switched on only in Daphne (asgi.py): in a worker and in
runpresence the layer is this one exactly.
"""
import logging
import random
import time
import uuid

import redis
from asgi_redis import RedisChannelLayer
from asgi_redis.core import UnsupportedRedis

from redis_layer.packing import _ProcessChannelPacker
from redis_layer.scripts import LUA_SEND, LUA_SEND_MANY, LUA_TAKE

log = logging.getLogger(__name__)

# A websocket.receive message's field, added by Daphne to a frame over its
# budget (interface/budgets.py): the seconds the worker tells the sender
# to wait (rate_limited) instead of saving the frame.
RETRY_AFTER_KEY = "chat_retry_after"
# On a websocket.connect: when Daphne queued it (time.time()), so a worker
# can tell a handshake its client has already given up on (chat/room_socket.py).
QUEUED_AT_KEY = "chat_queued_at"


class RedisLayer(RedisChannelLayer):
    """asgi_redis's layer, its sends and receives each one script call."""

    SHARDED_BLOCK = 0.05  # seconds a worker blocks on each shard in turn
    # Seconds a worker blocks waiting for a message (asgi_redis: 5). A
    # stopping worker lets its wait end rather than drop what it may just
    # have taken (chat/worker.py), so an idle one stops within this.
    blpop_timeout = 1
    GROUP_SEND_CHUNK = 500  # members per script call: Redis serves no one else meanwhile

    def __init__(self, **config):
        super().__init__(**config)
        if self.ring_size > 1:
            # asgi_redis blocks on one shard at a time, blpop_timeout each,
            # while messages wait on the next: handshakes time out.
            # Block briefly instead (fractional timeouts: Redis 6 or later).
            self.blpop_timeout = self.SHARDED_BLOCK
        connection = self.connection(0)
        self.send_counted = connection.register_script(LUA_SEND)
        self.send_many = connection.register_script(LUA_SEND_MANY)
        self.take_many = connection.register_script(LUA_TAKE)

    def send(self, channel, message):
        return self._send(channel, message)

    def group_add(self, group, channel):
        """asgi_redis's ZADD and EXPIRE in one round trip (every handshake
        joins its room's Group)."""
        assert self.valid_group_name(group), "Group name not valid"
        assert self.valid_channel_name(channel), "Channel name not valid"
        group_key = self._group_key(group)
        pipeline = self.connection(self.consistent_hash(group)).pipeline(transaction=False)
        pipeline.zadd(group_key, **{channel: time.time()})
        pipeline.expire(group_key, self.group_expiry)
        pipeline.execute()

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
    def receive(self, channels, block=False):
        received = self.receive_batch(channels, block)
        return received[0] if received else (None, None)

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


def _redis_seconds(seconds):
    """A BLPOP timeout: whole seconds as an integer (any Redis), else a
    fraction (Redis 6 or later)."""
    return int(seconds) if float(seconds).is_integer() else seconds
