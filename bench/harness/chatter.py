"""
A person in a room who follows docs/protocol.md ("What a client must do"),
as chat/static/chat/chat.js does, on asyncio + `websockets`, from a loopback
address of its own (bench/harness/addresses.py):

- every message typed gets a new client_id and is kept until its echo (or an
  error frame naming it); after every reconnect it is resent;
- no echo within `echo_timeout`: the frame was lost on its way, so the socket
  is closed and the messages resent on a new one (the server handles one
  socket's frames in order);
- a socket that closes reconnects with back-off (0.5 s doubling to 8 s, plus
  up to half of it as jitter, reset once a socket stayed open 5 s);
- with `gap_patience` (the default) it keeps the room's messages by id,
  tracks `complete` along previous_id, reconnects with ?after=<complete> and
  fills a hole that stays open that long from the HTTP API;
- rate_limited: resent after retry_after; internal_error saved=false: the
  echo timeout resends it; saved=true and catchup_truncated: fill holes.

A scenario either runs each chatter (`run()`: connects, types every
`interval` while `typing`, resends, fills holes) or drives it itself
(`connect()`, `say()`, `close()`, with reconnect=False).
"""
import asyncio
import collections
import http.client
import itertools
import json
import random
import time
import traceback

import websockets
from websockets.asyncio.client import connect

from bench.harness.addresses import address

BACKOFF_FIRST, BACKOFF_MAX = 0.5, 8.0
STABLE_AFTER = 5.0       # a socket open this long resets the back-off
PENDING_CAP = 5          # a person waits while this many messages are unanswered
API_PAGE = 500
HTTP_TIMEOUT = 5.0
OPEN_TIMEOUT = 10.0
TICK = 0.05

mono = time.monotonic
_RUN = "%x" % random.getrandbits(32)


class Item:
    """One message a person typed."""
    __slots__ = ("client_id", "text", "created", "first_sent", "sent_at", "next_try", "transmissions",
                 "acked_at", "acked_via", "message_id", "error")

    def __init__(self, client_id, text, created):
        self.client_id, self.text, self.created = client_id, text, created
        self.first_sent = self.sent_at = None
        self.next_try = 0.0
        self.transmissions = 0
        self.acked_at = self.acked_via = self.message_id = None
        self.error = None  # the code of an error frame that answered it for good


class Chatter:
    def __init__(self, stack, room, number, handle=None, echo_timeout=8.0, gap_patience=2.0, reconnect=True,
                 interval=None, seed=None, tag=None):
        self.stack, self.room, self.number = stack, room, number
        # client_ids: "<tag>-<n>", unique in a run (at most 64 characters).
        self.tag = tag or "%s-%d" % (_RUN, number)
        self.source = address(number)
        self.handle = handle or "u%d" % number
        self.echo_timeout, self.gap_patience = echo_timeout, gap_patience
        self.reconnect, self.interval = reconnect, interval
        self.rng = random.Random(seed if seed is not None else number)
        self._ids = itertools.count(1)
        self.items = collections.OrderedDict()   # client_id -> Item, every message typed
        self.outbox = collections.OrderedDict()  # client_id -> Item, awaiting an answer
        self.typing = False
        self.next_type = 0.0
        # What it holds of the room, with gap_patience.
        self.complete = 0
        self.held = set()
        self.above = {}                          # id > complete -> previous_id
        self.gap_since = None
        self.fetching = False
        self.ids_by_cid = collections.defaultdict(set)  # (handle, client_id) -> ids held
        # The socket.
        self.ws = None
        self.opened_at = None
        self.backoff = BACKOFF_FIRST
        self.next_connect = 0.0
        self.stopped = False
        self.on_lost = None                      # called when the server closes the socket
        self.counters = collections.Counter()
        self.server_closes = []                  # (time, kind, within 1 s of opening)
        self.connect_failures = collections.Counter()
        self.connect_failure_times = []          # (time, reason)
        self.events = []                         # (time, what): a trace
        self.crash = None

    def event(self, text):
        self.events.append((mono(), text))

    # -- driven by run() ----------------------------------------------------

    async def run(self):
        """Connect, type, resend and fill holes until stop()."""
        try:
            while not self.stopped:
                now = mono()
                if self.ws is None and now >= self.next_connect:
                    await self.connect()
                self.tick(mono())
                await asyncio.sleep(TICK)
        except Exception:
            self.crash = traceback.format_exc()
        finally:
            await self.close()

    def tick(self, now):
        if self.typing and self.interval and now >= self.next_type:
            self.next_type = now + self.interval * self.rng.uniform(0.8, 1.2)
            if len(self.outbox) >= PENDING_CAP:
                self.counters["waited to type"] += 1
            else:
                self.say(now=now)
        if self.ws is not None:
            if self.opened_at is not None and now - self.opened_at >= STABLE_AFTER:
                self.backoff = BACKOFF_FIRST
            self._transmit_due(now)
            if any(item.sent_at is not None and now - item.sent_at > self.echo_timeout
                   for item in self.outbox.values()):
                self._close_for_resend(now)
        if self.gap_since is not None and now - self.gap_since >= self.gap_patience:
            self.fill_holes()

    # -- sockets ------------------------------------------------------------

    async def connect(self):
        """One handshake; True once open (and every unanswered message sent again)."""
        after = self.complete if self.gap_patience is not None else None
        try:
            ws = await connect(self.stack.socket_url(self.room, after), local_addr=(self.source, 0),
                               ping_interval=None, compression=None, open_timeout=OPEN_TIMEOUT, close_timeout=5,
                               max_queue=None, max_size=2 ** 20)
        except Exception as error:
            if isinstance(error, websockets.InvalidStatus):
                reason = "HTTP %s" % error.response.status_code
            elif isinstance(error, ConnectionRefusedError):
                reason = "refused"
            elif isinstance(error, (TimeoutError, asyncio.TimeoutError)):
                reason = "timeout"
            else:
                reason = type(error).__name__
            self.counters["connect failed"] += 1
            self.connect_failures[reason] += 1
            self.connect_failure_times.append((mono(), reason))
            self.event("connect failed: %s" % reason)
            self._socket_gone(mono())
            return False
        if self.stopped:
            ws.transport.abort()
            return False
        self.ws, self.opened_at = ws, mono()
        self.counters["connects"] += 1
        self.event("connected%s, %d to resend" % ("" if after is None else " ?after=%d" % after, len(self.outbox)))
        asyncio.ensure_future(self._read(ws))
        for item in self.outbox.values():
            item.sent_at = None
        self._transmit_due(self.opened_at)
        return True

    async def _read(self, ws):
        try:
            async for text in ws:
                self.on_frame(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        except Exception:
            self.crash = traceback.format_exc()
            ws.transport.abort()
        if ws is self.ws:  # not closed by this side
            self._lost("drop" if ws.protocol.close_rcvd is None else "close %s" % ws.protocol.close_rcvd.code)

    def _socket_gone(self, now):
        self.ws = self.opened_at = None
        for item in self.outbox.values():
            item.sent_at = None
        self.next_connect = now + self.backoff * (1 + self.rng.random() / 2)
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    def _lost(self, kind):
        """The server closed the socket (a close frame, or the connection dropped)."""
        now = mono()
        quick = self.opened_at is not None and now - self.opened_at < 1.0
        self.server_closes.append((now, kind, quick))
        if quick:
            self.counters["closed within 1 s of opening"] += 1
        self.event("socket closed by the server: %s" % kind)
        ws = self.ws
        self._socket_gone(now)
        ws.transport.abort()
        if self.on_lost is not None:
            self.on_lost(self, kind)

    def _close_for_resend(self, now):
        self.counters["echo timeouts"] += 1
        self.event("no echo for %gs: closing to resend" % self.echo_timeout)
        ws = self.ws
        self._socket_gone(now)
        asyncio.ensure_future(ws.close())

    async def close(self):
        """Close the socket with a closing handshake (for good); True when the server answered it."""
        self.stopped = True
        ws, self.ws = self.ws, None
        if ws is None:
            return True
        try:
            await ws.close()
        except Exception:
            pass
        return ws.protocol.close_rcvd is not None

    def stop(self):
        self.stopped = True

    # -- sending ------------------------------------------------------------

    def say(self, text=None, now=None):
        """Type a message: sent now when the socket is open, else after the next connect."""
        now = mono() if now is None else now
        number = next(self._ids)
        client_id = "%s-%d" % (self.tag, number)
        item = Item(client_id, text or "%s says %d" % (self.handle, number), now)
        self.items[client_id] = item
        self.outbox[client_id] = item
        if self.ws is not None:
            self._transmit(item, now)
        return item

    def _transmit_due(self, now):
        for item in list(self.outbox.values()):
            if self.ws is None:
                return
            if item.sent_at is None and item.next_try <= now:
                self._transmit(item, now)

    def _transmit(self, item, now):
        item.sent_at = now
        item.transmissions += 1
        if item.first_sent is None:
            item.first_sent = now
        else:
            self.counters["resends"] += 1
        text = json.dumps({"handle": self.handle, "message": item.text, "client_id": item.client_id})
        asyncio.ensure_future(self._write(self.ws, text))

    @staticmethod
    async def _write(ws, text):
        try:
            await ws.send(text)
        except websockets.ConnectionClosed:
            pass  # the reader sees the close

    # -- receiving ----------------------------------------------------------

    def on_frame(self, data):
        kind = data.get("type")
        if kind == "message":
            self.on_message(data, "ws")
        elif kind == "error":
            self._on_error(data)

    def _on_error(self, data):
        code = data.get("code")
        self.counters["error %s" % code] += 1
        self.event("error frame %s%s" % (code, "" if data.get("client_id") is None else " for " + data["client_id"]))
        if code == "catchup_truncated":
            self.fill_holes()
            return
        item = self.outbox.get(data.get("client_id"))
        if item is None:
            return
        if code == "rate_limited":
            item.sent_at = None  # not in flight: resent after retry_after
            item.next_try = mono() + float(data.get("retry_after") or 1.0)
        elif code == "internal_error" and data.get("saved") is True:
            del self.outbox[item.client_id]
            self.fill_holes()  # saved, its broadcast failed: fetch it
        elif code == "internal_error":
            # saved=false: the echo timeout resends it. No "saved" at all: the server
            # lost the socket's state and closes it; it is resent after the reconnect.
            if "saved" not in data:
                self.counters["state lost, kept to resend"] += 1
        else:
            del self.outbox[item.client_id]
            item.error = code

    def on_message(self, data, via):
        now = mono()
        message_id, client_id = data["id"], data.get("client_id")
        item = self.items.get(client_id) if data.get("handle") == self.handle else None
        if item is not None:
            if item.acked_at is None:
                if via == "ws" and next(iter(self.outbox), None) != client_id:
                    self.counters["echo out of order"] += 1
                item.acked_at, item.acked_via, item.message_id = now, via, message_id
                self.outbox.pop(client_id, None)
        elif via == "ws":
            self.counters["deliveries"] += 1
        if self.gap_patience is None:
            return
        if message_id in self.held:
            if via == "ws":
                self.counters["same id again"] += 1
        else:
            self.held.add(message_id)
        if client_id:
            self.ids_by_cid[(data.get("handle"), client_id)].add(message_id)
        if message_id > self.complete:
            self.above[message_id] = data.get("previous_id")
        while self.above:
            lowest = min(self.above)
            previous = self.above[lowest]
            if previous is not None and previous > self.complete:
                break
            self.complete = lowest
            del self.above[lowest]
        self.gap_since = (self.gap_since or now) if self.above else None

    def fill_holes(self):
        """Fetch from `complete` on over HTTP, from this person's address; authoritative."""
        if not self.fetching and self.gap_patience is not None:
            self.fetching = True
            asyncio.ensure_future(self._fill_holes())

    async def _fill_holes(self):
        self.counters["hole fills"] += 1
        self.event("filling holes after %d (%d held above)" % (self.complete, len(self.above)))
        loop = asyncio.get_running_loop()
        try:
            while True:
                page = await loop.run_in_executor(None, self._page, self.complete)
                for message in page:
                    self.on_message(message, "http")
                if len(page) < API_PAGE:
                    return
        except Exception as error:
            self.counters["hole fill failed"] += 1
            self.event("hole fill failed: %r" % error)
        finally:
            self.fetching = False
            if self.above:
                self.gap_since = mono()  # again after the patience

    def _page(self, after):
        connection = http.client.HTTPConnection(self.stack.host, self.stack.http_port, timeout=HTTP_TIMEOUT,
                                                source_address=(self.source, 0))
        try:
            connection.request("GET", "/api/rooms/%s/messages/?after=%d&limit=%d" % (self.room, after, API_PAGE))
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError("HTTP %d" % response.status)
        return json.loads(body.decode("utf-8"))["messages"]

    # -- what it saw --------------------------------------------------------

    def recovered_at(self, fault_end):
        """When it first saw the echo of a message typed after the fault ended."""
        times = [item.acked_at for item in self.items.values() if item.acked_at and item.created >= fault_end]
        return min(times) if times else None


def audit(chatters, rows):
    """What the chatters sent and saw against the rows saved in their rooms ((id, handle, client_id)).
    Lists of client_ids where a user would see something wrong; counts elsewhere."""
    saved = collections.defaultdict(list)
    for message_id, handle, client_id in rows:
        if client_id is not None:
            saved[(handle, client_id)].append(message_id)
    sent, acked, errored, lost_acked, lost_sent, mismatch, unacked = [], [], [], [], [], [], []
    own = set()
    for chatter in chatters:
        for item in chatter.items.values():
            key = (chatter.handle, item.client_id)
            own.add(key)
            if not item.transmissions:
                continue
            sent.append(item)
            if item.acked_at is not None:
                acked.append(item)
                if key not in saved:
                    lost_acked.append(item.client_id)
                elif item.acked_via == "ws" and item.message_id != min(saved[key]):
                    mismatch.append(item.client_id)
            else:
                unacked.append(item.client_id)
            if item.error is not None:
                errored.append(item.client_id)
            elif key not in saved:
                lost_sent.append(item.client_id)
    tracked = [chatter for chatter in chatters if chatter.gap_patience is not None]
    all_ids = {row[0] for row in rows}
    return {
        "sent": len(sent), "acked": len(acked), "errored": len(errored),
        "acked_http": sum(1 for item in acked if item.acked_via == "http"),
        "saved": sum(1 for chatter in chatters for item in chatter.items.values()
                     if item.transmissions and (chatter.handle, item.client_id) in saved),
        "rows": len(rows),
        "lost_acked": lost_acked, "lost_sent": lost_sent, "unacked": unacked, "id_mismatch": mismatch,
        "duplicated": sorted(client_id for (_, client_id), ids in saved.items() if len(ids) > 1),
        "foreign_rows": sum(1 for key in saved if key not in own),
        "shown_twice": sum(1 for chatter in tracked for ids in chatter.ids_by_cid.values() if len(ids) > 1),
        "unseen": sum(len(all_ids - chatter.held) for chatter in tracked),
        "waits": [item.acked_at - item.created for item in acked],
        "echoes": [item.acked_at - item.sent_at for item in acked if item.acked_via == "ws"],
    }
