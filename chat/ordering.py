"""
One socket's background jobs, run in the order its frames were sent, by
any number of workers.

The receive consumer runs a socket's frames in order (channels'
@enforce_ordering) and hands each valid chat message to the channel
`chat.messages` as a job numbered 0, 1, 2... per socket. Several workers
take jobs off that channel at once, so job 1 may start while job 0 is
still saving. @in_socket_order makes it wait: a job that is not its
socket's next is parked beside that socket's counter, and the worker that
finishes the job before it runs it next. A socket's counter starts at 0
when its first job is claimed: reply channels are never reused.

The counter and the parked jobs live in Redis, on the shard the socket's
reply channel hashes to; each step is one Lua script, so "not next: park"
and "done: advance, take the parked successor" cannot interleave and lose
a job between them. channels' own enforce_ordering checks and parks in
separate steps, and keeps its counter in the channel session, which the
socket's next frame rewrites at the same time; neither would do here.

Without Redis (runserver's in-memory layer, one process) the same state
lives in this process, behind a lock.

A job lost on its way (its worker killed) leaves its socket's later jobs
parked, exactly as a lost frame does with @enforce_ordering: clients
reconnect when a frame gets no answer, and resend on the new socket
(docs/protocol.md, "What a client must do"). Parked jobs expire with the
socket's keys.

A socket's keys go when its last job is done after its disconnect (`end`
is told how many jobs it sent), or expire ENDED_SOCKET_TTL after it.
"""
import functools
import json
import logging
import threading
import time
import weakref

from asgi_redis import RedisChannelLayer
from channels.message import Message
from django.conf import settings

log = logging.getLogger(__name__)

JOB_NUMBER_KEY = "job"   # in a job's content: its number among its socket's jobs
KEY_PREFIX = "chat.jobs."
# After its disconnect, a socket's counter lives until its last job is done,
# or at most this long: the layer drops messages older than its expiry (60 s).
ENDED_SOCKET_TTL = 120

# KEYS: next, parked. ARGV: number, job, live ttl, ended ttl.
# Returns 1: run it now, 0: parked, -1: it ran already.
CLAIM = """
local next_number = tonumber(redis.call('GET', KEYS[1]) or '0')
local number = tonumber(ARGV[1])
if number < next_number then return -1 end
-- An open socket's counter lives on while it is used; an ended one's
-- (its TTL cut to the ended TTL) runs out.
local ttl = redis.call('TTL', KEYS[1])
if ttl > tonumber(ARGV[4]) then
    ttl = tonumber(ARGV[3])
    redis.call('EXPIRE', KEYS[1], ttl)
elseif ttl < 0 then
    ttl = tonumber(ARGV[4])
end
if number == next_number then return 1 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ttl)
return 0
"""

# KEYS: next, parked, last. ARGV: number done, live ttl.
# Returns the parked next job, if any.
FINISH = """
local next_number = tonumber(ARGV[1]) + 1
local last = redis.call('GET', KEYS[3])
if last and next_number >= tonumber(last) then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
    return false
end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then ttl = tonumber(ARGV[2]) end
redis.call('SET', KEYS[1], next_number, 'EX', ttl)
local job = redis.call('HGET', KEYS[2], next_number)
if job then redis.call('HDEL', KEYS[2], next_number) end
return job
"""

# KEYS: next, parked, last. ARGV: jobs sent ('' if unknown), ended ttl.
END = """
local next_number = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] ~= '' and next_number >= tonumber(ARGV[1]) then
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
    return
end
if ARGV[1] ~= '' then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
"""


class RedisJobOrder:
    def __init__(self, layer):
        self.layer = layer
        connection = layer.connection(0)
        self.claim_script = connection.register_script(CLAIM)
        self.finish_script = connection.register_script(FINISH)
        self.end_script = connection.register_script(END)

    def _keys(self, reply_channel):
        prefix = self.layer.prefix + KEY_PREFIX
        return [(prefix + name + ":" + reply_channel).encode("utf8") for name in ("next", "parked", "last")]

    def _connection(self, reply_channel):
        return self.layer.connection(self.layer.consistent_hash(reply_channel))

    def claim(self, reply_channel, number, content):
        return self.claim_script(
            keys=self._keys(reply_channel)[:2],
            args=[number, json.dumps(content), settings.CHANNEL_SESSION_MAX_AGE, ENDED_SOCKET_TTL],
            client=self._connection(reply_channel))

    def finish(self, reply_channel, number):
        job = self.finish_script(
            keys=self._keys(reply_channel), args=[number, settings.CHANNEL_SESSION_MAX_AGE],
            client=self._connection(reply_channel))
        return None if job is None else json.loads(job.decode("utf8"))

    def all_done(self, reply_channel, jobs_sent):
        """Whether the socket's first `jobs_sent` jobs have all run."""
        next_key = self._keys(reply_channel)[0]
        return int(self._connection(reply_channel).get(next_key) or 0) >= jobs_sent

    def end(self, reply_channel, jobs_sent=None):
        self.end_script(
            keys=self._keys(reply_channel), args=["" if jobs_sent is None else jobs_sent, ENDED_SOCKET_TTL],
            client=self._connection(reply_channel))


class LocalJobOrder:
    """The same, for the in-memory layer: one process, threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_numbers = {}
        self.parked = {}
        self.last = {}   # reply channel -> jobs it sent, once it ended
        self.ended = {}  # reply channel -> when it ended

    def _forget(self, reply_channel):
        for state in (self.next_numbers, self.parked, self.last, self.ended):
            state.pop(reply_channel, None)

    def claim(self, reply_channel, number, content):
        with self.lock:
            now = time.monotonic()
            for ended_channel, ended in list(self.ended.items()):
                if now - ended > ENDED_SOCKET_TTL:
                    self._forget(ended_channel)
            next_number = self.next_numbers.get(reply_channel, 0)
            if number < next_number:
                return -1
            if number == next_number:
                return 1
            self.parked.setdefault(reply_channel, {})[number] = content
            return 0

    def finish(self, reply_channel, number):
        with self.lock:
            if number + 1 >= self.last.get(reply_channel, float("inf")):
                self._forget(reply_channel)
                return None
            self.next_numbers[reply_channel] = number + 1
            return self.parked.get(reply_channel, {}).pop(number + 1, None)

    def all_done(self, reply_channel, jobs_sent):
        with self.lock:
            return self.next_numbers.get(reply_channel, 0) >= jobs_sent

    def end(self, reply_channel, jobs_sent=None):
        with self.lock:
            if jobs_sent is not None and self.next_numbers.get(reply_channel, 0) >= jobs_sent:
                self._forget(reply_channel)
                return
            if jobs_sent is not None:
                self.last[reply_channel] = jobs_sent
            self.ended[reply_channel] = time.monotonic()


_orders = weakref.WeakKeyDictionary()  # channel layer -> its job order
_orders_lock = threading.Lock()


def job_order(layer):
    """The job order kept with a channel layer (asgi_redis's, or in-memory)."""
    with _orders_lock:
        if layer not in _orders:
            _orders[layer] = RedisJobOrder(layer) if isinstance(layer, RedisChannelLayer) else LocalJobOrder()
        return _orders[layer]


def in_socket_order(consumer):
    """Wraps the consumer of a background channel whose jobs carry their
    socket's `reply_channel` and JOB_NUMBER_KEY: runs each socket's jobs
    one at a time, in number order (see the module docstring). The
    consumer should not raise (wrap it in reply_errors); if it does, its
    socket's next jobs still run."""

    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        order = job_order(message.channel_layer.channel_layer)
        reply_channel = message.content["reply_channel"]
        number = int(message.content[JOB_NUMBER_KEY])
        claimed = order.claim(reply_channel, number, message.content)
        if claimed < 0:
            log.warning("Job %d of %s came again after it ran; dropped", number, reply_channel)
            return
        if claimed == 0:
            log.debug("Job %d of %s parked until the one before it is done", number, reply_channel)
            return
        while True:
            try:
                consumer(message, *args, **kwargs)
            except Exception:
                # Logged, not raised: the parked jobs after it must still run.
                log.exception("Job %d of %s failed", number, reply_channel)
            successor = order.finish(reply_channel, number)
            if successor is None:
                return
            message = Message(successor, message.channel.name, message.channel_layer)
            number += 1

    return inner
