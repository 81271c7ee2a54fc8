"""
Which sockets each Daphne holds, kept in Redis, so that Group memberships
cannot outlive their sockets.

A Group membership ends with the socket's websocket.disconnect. Some sockets
never get one to a worker: Daphne killed outright, a disconnect that waited
in Redis longer than the layer's expiry (every worker down for a while), or
one Daphne could not send (Redis unreachable at that moment). Stock
Channels 1.x then keeps the membership for `group_expiry` (a day here), and
every broadcast to the room keeps writing to a reply channel nobody reads.

So each Daphne publishes, every PUBLISH_EVERY seconds, the reply channels of
its open sockets (interface/publishing.py does it from Daphne's own receive loop),
and stamps its process channel in one hash. `prune()`, which one worker runs
every few seconds (chat/pruning.py), drops from every Group:
- members whose Daphne has not published for DEAD_AFTER seconds (dead), and
- members missing from their live Daphne's latest list, if they joined
  before that list was written (a socket may join between two lists).
A Daphne that never published (an older release during a rolling deploy)
is left alone. So a socket gone without its disconnect leaves its Groups
within DEAD_AFTER + the pruning interval (45 s with the defaults), and the
clocks of the Daphne and worker hosts must agree to within JOIN_MARGIN.

Everything lives on the first shard; Groups are scanned on every shard.
Both keys expire FORGET_AFTER seconds after the latest list: once every
Daphne has stopped, nothing of the registry stays in Redis.
"""
import logging
import time

log = logging.getLogger(__name__)

PUBLISH_EVERY = 10.0   # seconds between one Daphne's lists
DEAD_AFTER = 30.0      # a Daphne silent this long is dead
FORGET_AFTER = 3600.0  # its stamp is then removed (no member can be left by then)
JOIN_MARGIN = 5.0      # seconds of clock difference between hosts tolerated

STAMPS_KEY = "chat:daphnes"          # hash: process channel -> time of its latest list
SOCKETS_KEY = "chat:daphne-sockets:"  # + process channel: set of its reply channels


def redis_key(layer, name):
    """A key of ours beside the layer's (its prefix: "asgi:")."""
    return (layer.prefix + name).encode("utf8")


def process_channel_of(reply_channel):
    """Daphne's process channel ("daphne.response.abc!") of a reply channel
    ("daphne.response.abc!xyz"), or None for any other channel."""
    head, bang, _ = reply_channel.partition("!")
    return head + bang if bang else None


def publish(layer, process_channel, reply_channels, now=None):
    """One Daphne's open sockets, replacing its previous list."""
    now = time.time() if now is None else now
    sockets_key = redis_key(layer, SOCKETS_KEY + process_channel)
    pipeline = layer.connection(0).pipeline(transaction=True)
    pipeline.delete(sockets_key)
    if reply_channels:
        pipeline.sadd(sockets_key, *reply_channels)
    pipeline.expire(sockets_key, int(FORGET_AFTER))
    stamps_key = redis_key(layer, STAMPS_KEY)
    pipeline.hset(stamps_key, process_channel, repr(now))
    pipeline.expire(stamps_key, int(FORGET_AFTER))
    pipeline.execute()


def prune(layer, now=None):
    """Discard every Group member whose socket is gone (see above).
    Returns the reply channels discarded."""
    now = time.time() if now is None else now
    first = layer.connection(0)
    stamps = {name.decode("utf8"): float(stamp) for name, stamp in first.hgetall(redis_key(layer, STAMPS_KEY)).items()}
    live_lists = {}
    discarded = set()
    for index in range(layer.ring_size):
        connection = layer.connection(index)
        for group_key in connection.scan_iter(match=layer._group_key("*"), count=500):
            for member, joined in connection.zrange(group_key, 0, -1, withscores=True):
                member = member.decode("utf8")
                process_channel = process_channel_of(member)
                stamp = stamps.get(process_channel)
                if stamp is None:
                    continue  # a Daphne that does not publish: nothing known
                if now - stamp > DEAD_AFTER:
                    gone = True
                else:
                    if process_channel not in live_lists:
                        live_lists[process_channel] = {
                            m.decode("utf8") for m in first.smembers(redis_key(layer, SOCKETS_KEY + process_channel))}
                    gone = member not in live_lists[process_channel] and joined < stamp - JOIN_MARGIN
                if gone:
                    connection.zrem(group_key, member)
                    discarded.add(member)
    for process_channel, stamp in stamps.items():
        if now - stamp > FORGET_AFTER:
            first.hdel(redis_key(layer, STAMPS_KEY), process_channel)
    if discarded:
        log.info("Dropped %d Group memberships of sockets gone without a disconnect", len(discarded))
    return discarded
