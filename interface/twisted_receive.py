"""
Daphne's Twisted mode: the channel layer's `receive_twisted`.

Daphne 1.4 polls a layer without the `twisted` extension: a non-blocking
receive on the reactor thread, one message per reactor turn, and 50 ms of
sleep whenever nothing was there, a floor under every reply's latency. With
the extension it asks `receive_twisted(channels)` for a Deferred instead,
one at a time. asgi_redis's own opens a txredisapi pool per message; this
one reads Redis on one daemon thread of its own and hands what it read to
the reactor:

- The thread only talks to Redis (`layer.receive_batch`, a BLPOP of at most
  BLOCK seconds, then one script that takes the message and, on a process
  channel, whatever else waits behind it). Everything else runs on the
  reactor thread, where Daphne's sends run: the layer's bookkeeping
  (`layer.received`, `layer.receive_failed`: budgets, restart detection,
  the socket registry, garbage collection) needs no lock.
- A batch is delivered one message per `receive_twisted` call from a
  buffer, each an already-fired Deferred, so Daphne works through it in one
  reactor turn. The thread reads again only when the buffer is empty and
  Daphne asks: what Daphne has not yet taken stays in Redis, under the
  reply channel's capacity, not in this process's memory.
- The thread is a daemon and never blocks more than BLOCK seconds: on
  SIGTERM the reactor stops and the process exits without waiting for it.
- A Redis error fails the Deferred; Daphne logs it and asks again 5 s
  later, as in its polling mode.
"""
import collections
import logging
import queue
import threading

from twisted.internet import defer
from twisted.python.failure import Failure

log = logging.getLogger(__name__)


class TwistedReceiver:
    """One layer's receive_twisted: reads on a daemon thread, answers on the reactor."""

    BLOCK = 1.0   # seconds one BLPOP waits; also how often idle bookkeeping runs
    BATCH = 100   # messages of a process channel taken in one read

    def __init__(self, layer, reactor=None):
        self.layer = layer
        self._reactor = reactor
        self._asks = queue.Queue()  # (channels, Deferred), from the reactor to the thread
        self._buffered = {}         # channels -> deque of (channel, message); reactor thread only
        self._thread = None
        self._lock = threading.Lock()

    @property
    def reactor(self):
        if self._reactor is None:
            from twisted.internet import reactor
            self._reactor = reactor
        return self._reactor

    def receive(self, channels):
        """A Deferred firing with (channel, message), or (None, None) after
        BLOCK seconds with nothing. Call from the reactor thread."""
        channels = tuple(channels)
        buffered = self._buffered.get(channels)
        if buffered:
            return defer.succeed(buffered.popleft())
        self._ensure_thread()
        asked = defer.Deferred()
        self._asks.put((channels, asked))
        return asked

    def clear(self):
        """Forget what was read and not yet delivered (the layer's flush)."""
        self._buffered.clear()

    def stop(self):
        """Let the thread end (it also dies with the process: a daemon)."""
        self._asks.put((None, None))

    def _ensure_thread(self):
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._read, name="channel-layer-receive", daemon=True)
            self._thread.start()
            self.reactor.addSystemEventTrigger("before", "shutdown", self.stop)

    def _read(self):
        """The thread: one read per ask, its outcome handed to the reactor."""
        while True:
            channels, asked = self._asks.get()
            if channels is None:
                return
            try:
                batch = self.layer.receive_batch(list(channels), block=self.BLOCK, limit=self.BATCH)
            except Exception:
                self.reactor.callFromThread(self._failed, asked, Failure())
            else:
                self.reactor.callFromThread(self._deliver, channels, asked, batch)

    def _deliver(self, channels, asked, batch):
        try:
            self.layer.received(list(channels))
        except Exception:
            # Bookkeeping must never cost the messages just read.
            log.exception("Channel layer bookkeeping failed")
        if not batch:
            asked.callback((None, None))
            return
        if len(batch) > 1:
            self._buffered.setdefault(channels, collections.deque()).extend(batch[1:])
        asked.callback(batch[0])

    def _failed(self, asked, failure):
        try:
            self.layer.receive_failed(failure.value)
        finally:
            asked.errback(failure)
