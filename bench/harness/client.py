"""
The load client: asyncio + `websockets`, speaking the chat's wire protocol
(docs/protocol.md) to any of the stacks.

- Every socket binds its own loopback source address (127.10.0.1,
  127.10.0.2, ...), so the per-address budgets apply per person, as in
  production behind a proxy that passes each person's address.
- Open loop: `offer()` sends on a fixed schedule (rate x duration), round
  robin over the senders, and never waits for an echo. A send that falls
  behind its schedule is counted (send lag), so a saturated client shows.
- Every chat frame carries its client_id and its send time (CLOCK_MONOTONIC,
  in the message text): each socket that receives it computes the latency.
- A Tally collects one phase: deliveries against expected (every open
  socket of the room, the sender included), duplicates, error frames by
  code, sockets closed by the server by close code, latencies.
"""
import asyncio
import collections
import http.client
import itertools
import json
import random
import time

import websockets
from websockets.asyncio.client import connect

from bench.harness.addresses import address

OPEN_TIMEOUT = 30
# chat.js's reconnect back-off (seconds).
FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 15.0




def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Tally:
    """What one phase of a workload saw."""

    def __init__(self):
        self.sent = {}  # client_id -> [expected, delivered]
        self.expected = 0
        self.delivered = 0
        self.duplicates = 0
        self.unsent = 0
        self.latencies = []
        self.errors = collections.Counter()
        self.closed = collections.Counter()
        self.max_lag = 0.0
        self.first_send = None
        self.last_send = None
        self.last_delivery = None

    @property
    def lost(self):
        return self.expected - (self.delivered - self.duplicates)

    def summary(self):
        lat = [value * 1000.0 for value in self.latencies]
        span = ((self.last_delivery or 0) - (self.first_send or 0)) if self.first_send else 0
        send_span = (self.last_send - self.first_send) if self.first_send and self.last_send else 0
        return {
            "sent": len(self.sent), "unsent": self.unsent, "expected": self.expected,
            "delivered": self.delivered - self.duplicates, "duplicates": self.duplicates, "lost": self.lost,
            "delivered_fraction": (self.delivered - self.duplicates) / self.expected if self.expected else None,
            "p50_ms": percentile(lat, 0.5), "p90_ms": percentile(lat, 0.9), "p99_ms": percentile(lat, 0.99),
            "max_ms": max(lat) if lat else None,
            "deliveries_per_s": (self.delivered - self.duplicates) / span if span > 0 else None,
            "send_seconds": send_span,
            "errors": dict(self.errors), "closed": dict(self.closed),
            "max_send_lag_ms": self.max_lag * 1000.0,
        }


class Conn:
    """One socket of the client."""

    __slots__ = ("client", "room", "number", "handle", "ws", "open", "closing", "close_code", "reader",
                 "last_id", "seen", "opened_at", "fetch_after")

    def __init__(self, client, room, number):
        self.client, self.room, self.number = client, room, number
        self.handle = "u%d" % number
        self.ws = None
        self.open = False
        self.closing = False
        self.close_code = None
        self.reader = None
        self.last_id = 0
        self.seen = None  # a set of message ids when a workload tracks them
        self.opened_at = None
        self.fetch_after = None  # a catchup_truncated's id: the rest is the HTTP API's

    async def connect(self, url):
        self.closing = False
        self.ws = await connect(url, local_addr=(address(self.number), 0), ping_interval=None, compression=None,
                                open_timeout=OPEN_TIMEOUT, close_timeout=5, max_queue=None, max_size=2 ** 20)
        self.open = True
        self.opened_at = time.monotonic()
        self.reader = asyncio.ensure_future(self._read(self.ws))

    async def _read(self, ws):
        on_frame = self.client.on_frame
        try:
            async for text in ws:
                on_frame(self, text)
        except websockets.ConnectionClosed:
            pass
        except Exception as error:  # a client bug must not pass silently
            self.client.reader_errors[repr(error)] += 1
        finally:
            if ws is self.ws:
                self.open = False
                code = ws.close_code
                self.close_code = code
                if not self.closing:
                    self.client.tally.closed[code if code is not None else "none"] += 1
                    self.client.closed_by_server[code if code is not None else "none"] += 1

    def drop(self):
        """Cut the connection at once (no closing handshake), as a network failure or a restart would."""
        self.closing = True
        self.open = False
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()

    async def close(self):
        self.closing = True
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                pass
        self.open = False


class LoadClient:
    def __init__(self, stack):
        self.stack = stack
        self.numbers = itertools.count(1)
        self.conns = []
        self.rooms = collections.defaultdict(list)
        self.tally = Tally()
        self.closed_by_server = collections.Counter()
        self.connect_failures = collections.Counter()
        self.reader_errors = collections.Counter()
        self._cids = itertools.count(1)
        self.tag = "b%x" % int(time.time() * 1000 % 0xFFFFFFF)

    # ------------------------------------------------------------------ frames

    def on_frame(self, conn, text):
        now = time.monotonic()
        data = json.loads(text)
        kind = data.get("type")
        tally = self.tally
        if kind == "message":
            message_id = data["id"]
            if message_id > conn.last_id:
                conn.last_id = message_id
            if conn.seen is not None:
                conn.seen.add(message_id)
            record = tally.sent.get(data.get("client_id"))
            if record is not None:
                record[1] += 1
                tally.delivered += 1
                if record[1] > record[0]:
                    tally.duplicates += 1
                else:
                    tally.latencies.append(now - float(data["message"].rsplit(" ", 1)[1]))
                tally.last_delivery = now
        elif kind == "error":
            tally.errors[data.get("code")] += 1
            if data.get("code") == "catchup_truncated":
                conn.fetch_after = data["after"]

    # ------------------------------------------------------------------ sockets

    async def open_sockets(self, labels, per_room, concurrency=50, after=None):
        """Open per_room sockets in each room (interleaved); returns (conns, seconds)."""
        plan = [(label, index) for index in range(per_room) for label in labels]
        conns = [Conn(self, label, next(self.numbers)) for label, _ in plan]
        started = time.monotonic()
        await self.connect_all(conns, concurrency, after)
        for conn in conns:
            self.conns.append(conn)
            self.rooms[conn.room].append(conn)
        return conns, time.monotonic() - started

    async def connect_all(self, conns, concurrency=50, after=None, retry_until=None):
        """Connect every conn, at most `concurrency` handshakes at a time. With retry_until (a
        time.monotonic() deadline) a failed handshake is tried again with chat.js's back-off:
        0.5 s doubling to 15 s, plus up to half of it at random."""
        gate = asyncio.Semaphore(concurrency)

        async def one(conn):
            delay = FIRST_RETRY_DELAY
            while True:
                async with gate:
                    try:
                        await conn.connect(self.stack.socket_url(conn.room, after(conn) if callable(after) else after))
                        return
                    except websockets.InvalidStatus as error:
                        self.connect_failures["HTTP %s" % error.response.status_code] += 1
                    except Exception as error:
                        self.connect_failures[type(error).__name__] += 1
                wait = delay + random.random() * delay / 2
                if retry_until is None or time.monotonic() + wait > retry_until:
                    return
                await asyncio.sleep(wait)
                delay = min(delay * 2, MAX_RETRY_DELAY)

        await asyncio.gather(*(one(conn) for conn in conns))

    async def close_all(self, conns=None, concurrency=200):
        conns = list(self.conns if conns is None else conns)
        gate = asyncio.Semaphore(concurrency)

        async def one(conn):
            async with gate:
                await conn.close()

        await asyncio.gather(*(one(conn) for conn in conns))
        for conn in conns:
            if conn in self.rooms.get(conn.room, ()):
                self.rooms[conn.room].remove(conn)
        gone = set(map(id, conns))
        self.conns = [conn for conn in self.conns if id(conn) not in gone]

    def open_count(self):
        return sum(1 for conn in self.conns if conn.open)

    # ------------------------------------------------------------------ load

    def new_tally(self):
        self.tally = Tally()
        return self.tally

    def send(self, conn, expected=None):
        """Queue one chat frame on conn (not waiting for anything); returns its client_id."""
        tally = self.tally
        cid = "%s-%d" % (self.tag, next(self._cids))
        if expected is None:
            expected = sum(1 for other in self.rooms[conn.room] if other.open)
        tally.sent[cid] = [expected, 0]
        tally.expected += expected
        now = time.monotonic()
        if tally.first_send is None:
            tally.first_send = now
        tally.last_send = now
        text = json.dumps({"handle": conn.handle, "message": "%s %.6f" % (cid, now), "client_id": cid})
        asyncio.ensure_future(self._send(conn, text))
        return cid

    async def _send(self, conn, text):
        try:
            await conn.ws.send(text)
        except websockets.ConnectionClosed:
            pass

    async def offer(self, senders, rate, duration):
        """Open loop: rate frames a second for duration seconds, round robin over senders."""
        tally = self.tally
        count = max(1, int(round(rate * duration)))
        start = time.monotonic() + 0.02
        for index in range(count):
            due = start + index / float(rate)
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > tally.max_lag:
                tally.max_lag = -delay
            conn = senders[index % len(senders)]
            if not conn.open:
                tally.unsent += 1
                continue
            self.send(conn)

    async def drain(self, timeout):
        """Wait until every expected delivery arrived, or timeout seconds after the last send."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.tally.delivered - self.tally.duplicates >= self.tally.expected:
                return True
            await asyncio.sleep(0.05)
        return False


def senders_across_rooms(conns):
    """Senders ordered so that consecutive sends go to different rooms and sockets."""
    by_room = collections.defaultdict(list)
    for conn in conns:
        by_room[conn.room].append(conn)
    columns = list(by_room.values())
    ordered = []
    for index in range(max(len(column) for column in columns)):
        ordered.extend(column[index] for column in columns if index < len(column))
    return ordered


def message_ids_after(port, conn, after):
    """What a client does on catchup_truncated: the room's message ids above
    `after` from the HTTP API, page by page, from the socket's own address.
    Blocking: run it in an executor."""
    ids = []
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(address(conn.number), 0))
        try:
            connection.request("GET", "/api/rooms/%s/messages/?after=%d&limit=500" % (conn.room, after))
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError("GET messages after %d in %s answered %d" % (after, conn.room, response.status))
        page = [message["id"] for message in json.loads(body)["messages"]]
        ids += page
        if len(page) < 500:
            return ids
        after = page[-1]
