"""
Sockets that come and go while people chat (bench/soak.py's load, and
tests/integration/test_soak.py's): Churn keeps `target` sockets open over
the given rooms, each a Chatter that neither reconnects nor fills holes;
every second `churn` of them, picked at random, stop sending, wait for
their own echoes and close (a closing handshake) while new ones open in
their place; `chat_rate` messages a second go out, each from a random open
socket. configure() changes any of these while run() runs.
"""
import asyncio
import collections
import random
import time
import traceback

from bench.harness.chatter import Chatter

TICK = 0.02


class Churn:
    def __init__(self, stack, rooms, connect_rate=50.0, close_rate=50.0, connectors=8, echo_timeout=30.0,
                 total=None, addresses=None, seed=1):
        self.stack, self.rooms = stack, list(rooms)
        self.connect_rate, self.close_rate, self.echo_timeout = connect_rate, close_rate, echo_timeout
        self.total = total            # stop opening once this many were asked for
        self.addresses = addresses    # sockets share this many addresses (None: one each)
        self.rng = random.Random(seed)
        self.gate = asyncio.Semaphore(connectors)
        self.target, self.churn, self.chat_rate = 0, 0.0, 0.0
        self.open_new, self.closing_all, self.stopped = True, False, False
        self.chatters = []            # every socket of the run
        self.active = []              # open, and chosen from for chat and churn
        self.live = set()             # not closed yet (connecting, open, draining)
        self.requested = self.connecting = 0
        self.counts = collections.Counter()
        self.lost = []                # the first sockets the server closed
        self.failure = None           # a bug in this load, with its traceback

    def _spawn(self, coroutine):
        def done(task):
            if not task.cancelled() and task.exception() is not None and self.failure is None:
                self.failure = "".join(traceback.format_exception(task.exception()))
        asyncio.ensure_future(coroutine).add_done_callback(done)

    def configure(self, **settings):
        for key, value in settings.items():
            setattr(self, key, value)

    def snapshot(self):
        return {"open": len(self.active), "live": len(self.live), "connecting": self.connecting,
                "requested": self.requested, "opened": self.counts["opened"],
                "pending": sum(len(chatter.outbox) for chatter in self.live)}

    def stop(self):
        self.stopped = True

    async def run(self):
        last = time.monotonic()
        chat = churn = close = 0.0
        connects = float(self.connect_rate)
        while not self.stopped:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            elapsed, last = now - last, now
            connects = min(connects + elapsed * self.connect_rate, max(1.0, self.connect_rate / 5.0))
            if self.open_new and not self.closing_all:
                deficit = self.target - len(self.active) - self.connecting
                if self.total is not None:
                    deficit = min(deficit, self.total - self.requested)
                while deficit > 0 and connects >= 1:
                    self._spawn(self._open())
                    connects -= 1
                    deficit -= 1
            chat = min(chat + elapsed * self.chat_rate, max(1.0, self.chat_rate)) if self.chat_rate else 0.0
            while chat >= 1:
                chat -= 1
                self._say()
            churn = min(churn + elapsed * self.churn, max(1.0, self.churn)) if self.churn and not self.closing_all \
                else 0.0
            while churn >= 1 and self.active:
                churn -= 1
                self._retire(self.active[self.rng.randrange(len(self.active))])
            close = min(close + elapsed * self.close_rate, max(1.0, self.close_rate)) if self.closing_all else 0.0
            while close >= 1 and self.active:
                close -= 1
                self._retire(self.active[-1])
        for chatter in list(self.live):
            chatter.stop()
            if chatter.ws is not None:
                chatter.ws.transport.abort()

    async def _open(self):
        number = self.requested
        self.requested += 1
        self.connecting += 1
        source = number % self.addresses + 1 if self.addresses else number + 1
        chatter = Chatter(self.stack, self.rooms[number % len(self.rooms)], source, handle="soak%d" % number,
                          gap_patience=None, reconnect=False, echo_timeout=self.echo_timeout,
                          tag="%s-%d" % (self.rooms[0], number))
        chatter.on_lost = self._on_lost
        self.chatters.append(chatter)
        self.live.add(chatter)
        try:
            async with self.gate:
                opened = await chatter.connect()
        finally:
            self.connecting -= 1
        if not opened:
            self.counts["connect_failed"] += 1
            self.live.discard(chatter)
            return
        self.counts["opened"] += 1
        if self.stopped or self.closing_all:
            self._retire(chatter, listed=False)
        else:
            self.active.append(chatter)

    def _say(self):
        if not self.active:
            self.counts["chat_skipped"] += 1
            return
        # A random open socket; one with several echoes outstanding is passed over.
        for _ in range(5):
            chatter = self.active[self.rng.randrange(len(self.active))]
            if len(chatter.outbox) < 3:
                chatter.say("soak message from %s in %s" % (chatter.handle, chatter.room))
                return
        self.counts["chat_skipped"] += 1

    def _retire(self, chatter, listed=True):
        """Stop sending on this socket; close it once its echoes are in (or overdue)."""
        if listed:
            self.active.remove(chatter)
        self._spawn(self._close(chatter))

    async def _close(self, chatter):
        deadline = time.monotonic() + self.echo_timeout
        while chatter.outbox and chatter.ws is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if chatter.ws is None:
            return  # the server closed it meanwhile
        if chatter.outbox:
            self.counts["closed_with_pending"] += 1
        clean = await chatter.close()
        self.counts["closed_by_client" if clean else "close_timeouts"] += 1
        self.counts["closed"] += 1
        self.live.discard(chatter)

    def _on_lost(self, chatter, kind):
        self.counts["closed_by_server"] += 1
        self.counts["closed"] += 1
        self.counts["close %s" % kind] += 1
        if len(self.lost) < 20:
            self.lost.append("%s in %s, %d echoes outstanding: %s" % (chatter.handle, chatter.room,
                                                                      len(chatter.outbox), kind))
        if chatter in self.active:
            self.active.remove(chatter)
        self.live.discard(chatter)
