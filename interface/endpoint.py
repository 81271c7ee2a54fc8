"""
Daphne's listening endpoint, with limits that hold in Daphne's own process
before the input is read: WebSocket frames and request bodies bounded, and
the client address taken from the trusted proxy's X-Forwarded-For entry.

Daphne 1.4 offers no option for any of them. It builds autobahn's
WebSocket factory itself without `maxMessagePayloadSize`, so a frame of
any size is buffered whole, decoded and put on Redis before a worker
refuses it; it reads a whole HTTP body into one channel message; and with
--proxy-headers it takes the first X-Forwarded-For entry, which the client
writes. Daphne does let its listening sockets be any Twisted endpoint
(`-e`), and Twisted finds endpoint types as plugins
(`twisted/plugins/chat_endpoint.py`). This endpoint wraps another one and,
as Daphne's factory starts listening on it:

- sets autobahn's frame limits from `CHAT_MAX_FRAME_SIZE`: autobahn checks
  a frame's length in its header, so a larger one is refused (close code
  1009, "message too big") before its payload is buffered;
- makes every HTTP request (WebSocket handshakes included) a
  interface.http_request.GuardedRequest: a body over `CHAT_MAX_REQUEST_BODY` is
  answered 413 before it is buffered, and the client address is the
  X-Forwarded-For entry `DAPHNE_TRUSTED_PROXIES` places from the right.

    daphne -e 'chat:tcp:port=8001:interface=127.0.0.1' asgi:channel_layer

takes the description after `chat:` as the endpoint to wrap
(deploy/daphne.sh writes it).
"""
import logging

from twisted.internet.endpoints import quoteStringArgument, serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint, IStreamServerEndpointStringParser
from twisted.plugin import IPlugin
from zope.interface import implementer

from interface.access_log import escape_access_log
from interface.http_request import guarded_request

log = logging.getLogger(__name__)


@implementer(IStreamServerEndpoint)
class ChatEndpoint:
    """Listens on `wrapped`, with Daphne's WebSocket frames and request
    bodies bounded and the forwarded client address counted from the right."""

    def __init__(self, wrapped, max_frame_size, max_request_body=0, trusted_proxies=1, http_budgets=None):
        self.wrapped = wrapped
        self.max_frame_size = max_frame_size
        self.max_request_body = max_request_body
        self.trusted_proxies = trusted_proxies
        self.http_budgets = http_budgets

    def listen(self, factory):
        # Daphne's HTTPFactory hands WebSocket upgrades to its ws_factory;
        # autobahn copies these options into each connection it makes.
        ws_factory = getattr(factory, "ws_factory", None)
        if ws_factory is None:
            raise TypeError("the chat: endpoint serves Daphne's HTTPFactory, not %r" % (factory,))
        # 0 means no limit, to autobahn as to our settings.
        ws_factory.setProtocolOptions(maxFramePayloadSize=self.max_frame_size,
                                      maxMessagePayloadSize=self.max_frame_size)
        use_request_class(factory, guarded_request(self.max_request_body, self.trusted_proxies, self.http_budgets))
        escape_access_log(factory)
        log.info("WebSocket frames limited to %d bytes, request bodies to %d (0: any)%s",
                 self.max_frame_size, self.max_request_body,
                 "; the client address is the X-Forwarded-For entry %d from the right" % self.trusted_proxies
                 if factory.proxy_forwarded_address_header else "")
        return self.wrapped.listen(factory)


def use_request_class(factory, request_class):
    """Have Daphne's HTTPFactory build its connections with `request_class`
    (a daphne WebRequest subclass) for each request: its buildProtocol sets
    WebRequest on every connection it builds, so this sets ours after it."""
    build = factory.buildProtocol

    def buildProtocol(addr):
        protocol = build(addr)
        if protocol is not None:
            protocol.requestFactory = request_class
        return protocol

    factory.buildProtocol = buildProtocol


@implementer(IPlugin, IStreamServerEndpointStringParser)
class ChatEndpointParser:
    prefix = "chat"

    def parseStreamServer(self, reactor, *args, **kwargs):
        if not args or not args[0]:
            raise ValueError("chat: needs the endpoint to wrap, as in chat:tcp:port=8001")
        description = ":".join(
            [quoteStringArgument(arg) for arg in args]
            + ["%s=%s" % (key, quoteStringArgument(value)) for key, value in kwargs.items()])
        return ChatEndpoint(serverFromString(reactor, description), max_frame_size(), max_request_body(),
                            trusted_proxies(), http_budgets())


# Daphne has imported asgi.py, and with it Django's settings, before it
# parses its endpoints.

def max_frame_size():
    from django.conf import settings
    return settings.CHANNEL_LAYERS["default"]["CONFIG"]["max_frame_size"]


def max_request_body():
    from django.conf import settings
    return settings.CHAT_MAX_REQUEST_BODY


def http_budgets():
    from django.conf import settings
    return settings.CHAT_HTTP_BUDGETS


def trusted_proxies():
    """DAPHNE_TRUSTED_PROXIES: the proxies in front of Daphne that each append
    one X-Forwarded-For entry (nginx.conf sets one, Heroku's router appends
    one). A Daphne setting, like its other DAPHNE_* flags, not Django's."""
    from proj.env import env_int
    return env_int("DAPHNE_TRUSTED_PROXIES", 1)
