"""
Daphne's HTTP request, with two guards that must hold in Daphne's own
process, whatever stands in front of it (nginx, Heroku's router, nothing).

- A body cap. Daphne 1.4 reads a whole request body into one channel
  message, so Daphne, Redis and a worker all hold it before Django's
  DATA_UPLOAD_MAX_MEMORY_SIZE applies. A request whose Content-Length is
  over `max_body`, or whose chunked body grows past it, is answered 413 and
  its connection closed before the body is buffered or sent anywhere.

- The client address from the entry the nearest trusted proxy appended.
  With --proxy-headers Daphne takes the FIRST X-Forwarded-For entry, which
  the client writes; a proxy appends the address it saw at the end. With
  `trusted_proxies` = N, the client is the entry N places from the right
  (X-Forwarded-Proto and -Port likewise), or the peer when the header has
  fewer entries. The request's forwarded headers are rewritten to that one
  entry before Daphne reads them, so Daphne's own first-entry rule, the
  worker's headers (Django's SECURE_PROXY_SSL_HEADER) and the WebSocket
  handshake Daphne replays into autobahn all see the same value, taken
  from Twisted's parse of the headers. autobahn re-parses that replay with
  str.splitlines(), which also ends a line at VT, FF, FS, GS, RS and NEL
  (GHSA-2gqc-mwv3-66rp): a handshake with such a byte in its request line
  or a header is refused (400), so no header line can appear to autobahn
  that Twisted did not see.

And two smaller ones on every request:

- No client-chosen root path. Daphne takes a request's root path from a
  Daphne-Root-Path header, and Django then routes /<root>/admin/... as
  /admin/: path-based guards and budgets would look at the wrong path. The
  root path is a deployment's choice (Daphne's --root-path), so the header
  is dropped.

- A Content-Type of at most MAX_CONTENT_TYPE bytes (400 otherwise):
  channels parses every request's Content-Type with cgi.parse_header,
  whose cost grows with the square of its length (CVE-2026-84429; what
  one long header costs a worker: docs/security.md). Real ones are short.

And per-address budgets for the requests that write for anonymous
clients or run the password hasher: room pages (a first visit makes the
room) and /new/, sign-up, sign-in (the site's and the admin's). The same
token buckets as the sockets' (interface/budgets.py), kept in this process like
theirs, so every deployment form has them, Heroku too; a request over its
budget is answered 429 with a Retry-After after which the next one is let
through, before it reaches Redis or a worker.

The `chat:` endpoint (interface/endpoint.py) installs a subclass of this
with its settings on Daphne's HTTPFactory.
"""
import ipaddress
import logging
import math
import re
import time

from daphne.http_protocol import WebRequest

from interface.budgets import TokenBucket

log = logging.getLogger(__name__)

MAX_CONTENT_TYPE = 1024
ROOT_PATH_HEADER = b"Daphne-Root-Path"
FORWARDED_FOR = b"X-Forwarded-For"
FORWARDED_PORT = b"X-Forwarded-Port"
FORWARDED_PROTO = b"X-Forwarded-Proto"

# Single-segment pages that are not rooms.
_NOT_ROOMS = {b"admin", b"accounts", b"api", b"static", b"chat", b"notifications", b"healthz"}
_ONE_SEGMENT = re.compile(rb"^/([^/]+)/\Z")


def budget_kind(method, path):
    """Which per-address HTTP budget a request spends, or None."""
    if method == b"POST":
        if path in (b"/accounts/login/", b"/admin/login/"):
            return "signin"
        if path == b"/accounts/signup/":
            return "signup"
        return None
    if method in (b"GET", b"HEAD"):
        page = _ONE_SEGMENT.match(path)
        if page is not None and page.group(1) not in _NOT_ROOMS:
            return "rooms"  # a room's page, which makes the room, or /new/
    return None


class AddressBudgets:
    """A token bucket per (kind, client address), for HTTP requests.
    `limits`: {kind: (tokens a second, burst)}; a kind not there, or at
    rate 0, is not metered."""

    PRUNE_EVERY = 60.0

    def __init__(self, limits, clock=time.monotonic):
        self.limits = {kind: limit for kind, limit in limits.items() if limit[0] > 0}
        self.clock = clock
        self.buckets = {}
        self.pruned = clock()

    def wait(self, kind, address):
        """0 to let the request through; else the seconds after which the
        next one will be."""
        limit = self.limits.get(kind)
        if limit is None or address is None:
            return 0
        rate, burst = limit
        now = self.clock()
        self._prune(now)
        bucket = self.buckets.get((kind, address))
        if bucket is None:
            bucket = self.buckets[(kind, address)] = TokenBucket(burst, now)
        if bucket.take(rate, burst, now) == 0:
            return 0
        # Refused: a refusal costs nothing, so a client hammering away is
        # let in again as soon as one who waited would be.
        bucket.tokens += 1
        return (1 - bucket.tokens) / rate

    def _prune(self, now):
        if now - self.pruned < self.PRUNE_EVERY:
            return
        self.pruned = now
        for key in [key for key, bucket in self.buckets.items() if bucket.full(*self.limits[key[0]], now=now)]:
            del self.buckets[key]


# What str.splitlines() ends a line at, once autobahn has decoded the
# handshake as ISO-8859-1.
_AUTOBAHN_LINE_BREAKS = re.compile(b"[\n\r\x0b\x0c\x1c\x1d\x1e\x85]")
# "192.0.2.7:51234", "[2001:db8::7]:51234": an address some proxies write with its port.
_WITH_PORT = re.compile(r"^\[?([^\[\]]+?)\]?:\d+$")


def entries(headers, name):
    """The comma-separated entries of every `name` header, in order, non-empty."""
    values = headers.getRawHeaders(name) or []
    return [entry.strip() for value in values for entry in value.split(b",") if entry.strip()]


def ip_address(entry):
    """`entry` as an IP address string, or None if it is not one."""
    try:
        text = entry.decode("ascii")
    except UnicodeDecodeError:
        return None
    for candidate in (text, _WITH_PORT.sub(r"\1", text)):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def trusted_forwarded_headers(headers, trusted_proxies):
    """
    {header: value} for X-Forwarded-For/-Port/-Proto as the nearest trusted
    proxies wrote them, or None when they say nothing trustworthy (fewer
    X-Forwarded-For entries than trusted proxies, or no IP address where
    the client's should be): then the peer is the client.
    """
    addresses = entries(headers, FORWARDED_FOR)
    if trusted_proxies < 1 or len(addresses) < trusted_proxies:
        return None
    address = ip_address(addresses[-trusted_proxies])
    if address is None:
        return None
    chosen = {FORWARDED_FOR: address.encode("ascii")}
    for name in (FORWARDED_PORT, FORWARDED_PROTO):
        values = entries(headers, name)
        if values:
            # A proxy that sets these (nginx.conf, Heroku's router) replaces
            # them: then there is one. Where each proxy appended, the same
            # place as the address.
            chosen[name] = values[-trusted_proxies] if len(values) >= trusted_proxies else values[0]
    return chosen


class GuardedRequest(WebRequest):
    """Daphne's request, with the body capped and the forwarded client
    address counted from the right. Subclassed with settings by
    `guarded_request()`."""

    # Bytes a body may have; 0: any.
    max_body = 0
    # Proxies in front of Daphne that each append one X-Forwarded-For entry.
    trusted_proxies = 1
    # Per-address HTTP budgets (AddressBudgets), shared by this Daphne's requests.
    budgets = None

    _refused = False
    _body_received = 0

    # -- the body cap (Twisted calls these as the request arrives)

    def gotLength(self, length):
        if self.max_body and length is not None and length > self.max_body:
            self._refuse_body("a Content-Length of %d bytes" % length)
            return
        WebRequest.gotLength(self, length)

    def handleContentChunk(self, data):
        if self._refused:
            return
        self._body_received += len(data)
        if self.max_body and self._body_received > self.max_body:
            self._refuse_body("a body past %d bytes" % self.max_body)
            return
        WebRequest.handleContentChunk(self, data)

    def requestReceived(self, command, path, version):
        # What Twisted had already read after the refusal may still finish
        # the request: it goes nowhere.
        if self._refused:
            return
        WebRequest.requestReceived(self, command, path, version)

    def _refuse_body(self, what):
        self._refused = True
        self.content = None
        # Twisted would answer an "Expect: 100-continue" next.
        self.requestHeaders.removeHeader(b"Expect")
        self.factory.reply_protocols.pop(self.reply_channel, None)
        body = b"413 Payload Too Large: the body is over %d bytes.\n" % self.max_body
        self.channel.transport.write(
            b"HTTP/1.1 413 Payload Too Large\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        self.channel.loseConnection()
        method = _text(getattr(self.channel, "_command", b"?"))
        path = _text(getattr(self.channel, "_path", b"?"))
        client = self._client_for_log()
        log.debug("Refused %s %r from %s: %s, over CHAT_MAX_REQUEST_BODY=%d", method, path, client, what,
                 self.max_body)
        self.factory.log_action("http", "complete", {
            "path": path, "status": 413, "method": method, "client": client, "time_taken": 0, "size": len(body),
        })

    def _client_for_log(self):
        peer = self.channel.transport.getPeer()
        client = "%s:%s" % (peer.host, peer.port) if hasattr(peer, "host") else None
        if self.factory.proxy_forwarded_address_header:
            chosen = trusted_forwarded_headers(self.requestHeaders, self.trusted_proxies)
            if chosen is not None:
                client = "%s:%s" % (_text(chosen[FORWARDED_FOR]), _text(chosen.get(FORWARDED_PORT, b"0")))
        return client

    # -- the client address

    def process(self):
        if self._is_websocket_upgrade() and self._splits_for_autobahn():
            self._refuse(400, b"Bad Request", "Control characters in the handshake")
            return
        if any(len(value) > MAX_CONTENT_TYPE for value in self.requestHeaders.getRawHeaders(b"Content-Type", [])):
            self._refuse(400, b"Bad Request", "A Content-Type of over %d bytes" % MAX_CONTENT_TYPE)
            return
        self.requestHeaders.removeHeader(ROOT_PATH_HEADER)
        if self.factory.proxy_forwarded_address_header:
            self._keep_trusted_forwarded_headers()
        if self.budgets is not None and self._over_budget():
            return
        WebRequest.process(self)

    def _over_budget(self):
        kind = budget_kind(self.method, self.path)
        if kind is None:
            return False
        address = self._client_address()
        wait = self.budgets.wait(kind, address)
        if not wait:
            return False
        # Whole seconds, rounded up: never sooner than the next one is let in.
        retry_after = max(1, math.ceil(wait))
        log.info("Refused %s %s from %s: over its %s budget; retry after %d s",
                 _text(self.method), _text(self.path), address, kind, retry_after)
        self.client_addr = [address, 0]
        self.factory.reply_protocols.pop(self.reply_channel, None)
        # Twisted knows 429 by number only: name it, or the line says "Unknown Status".
        self.setResponseCode(429, b"Too Many Requests")
        self.responseHeaders.setRawHeaders(b"Content-Type", [b"text/plain; charset=utf-8"])
        self.responseHeaders.setRawHeaders(b"Retry-After", [str(retry_after).encode("ascii")])
        self._got_response_start = True  # Daphne's serverResponse: the body, then finish and log
        self.serverResponse({"content": b"Too many requests from your address; try again in %d s.\n" % retry_after})
        return True

    def _client_address(self):
        """The address Daphne is about to take as the client's."""
        if self.factory.proxy_forwarded_address_header:
            forwarded = self.requestHeaders.getRawHeaders(FORWARDED_FOR)
            if forwarded:
                return _text(forwarded[0])
        return getattr(self.channel.transport.getPeer(), "host", None)

    def _refuse(self, status, status_text, body):
        self.client_addr = None  # for Daphne's access log line
        self.factory.reply_protocols.pop(self.reply_channel, None)
        self.basic_error(status, status_text, body)

    def _is_websocket_upgrade(self):
        upgrade = self.requestHeaders.getRawHeaders(b"Upgrade")
        return bool(upgrade) and upgrade[0].lower() == b"websocket"

    def _splits_for_autobahn(self):
        if _AUTOBAHN_LINE_BREAKS.search(self.method + b" " + self.uri):
            return True
        return any(_AUTOBAHN_LINE_BREAKS.search(name + b": " + b",".join(values))
                   for name, values in self.requestHeaders.getAllRawHeaders())

    def _keep_trusted_forwarded_headers(self):
        chosen = trusted_forwarded_headers(self.requestHeaders, self.trusted_proxies)
        if chosen is None:
            # Daphne takes the peer's address (and the transport's scheme)
            # when there is no X-Forwarded-For.
            self.requestHeaders.removeHeader(FORWARDED_FOR)
            return
        for name, value in chosen.items():
            self.requestHeaders.setRawHeaders(name, [value])


def guarded_request(max_body, trusted_proxies, budgets=None):
    """A GuardedRequest class with these settings, for HTTPChannel.requestFactory;
    `budgets`: {kind: (rate, burst)} for AddressBudgets."""
    return type("GuardedRequest", (GuardedRequest,), {
        "max_body": max_body, "trusted_proxies": trusted_proxies,
        "budgets": AddressBudgets(budgets) if budgets else None})


def _text(value):
    return value.decode("ascii", "backslashreplace") if isinstance(value, bytes) else str(value)
