"""
Daphne's listening endpoint, with a WebSocket frame-size limit that holds
before a frame is read.

Daphne 1.4 builds autobahn's WebSocket factory itself and offers no option
for autobahn's `maxMessagePayloadSize`, so by default a client may send a
frame of any size: Daphne buffers it whole, decodes it and puts it on
Redis, and only a worker refuses it (a 30 MB frame took 9 s). Daphne does
let its listening sockets be any Twisted endpoint (`-e`), and Twisted
finds endpoint types as plugins (`twisted/plugins/chat_endpoint.py`). This
endpoint wraps another one and, as Daphne's factory starts listening on
it, sets autobahn's limits from `CHAT_MAX_FRAME_SIZE`. autobahn checks a
frame's length in its header, so a larger one is refused (close code 1009,
"message too big") before its payload is buffered, and never reaches
Redis or a worker.

    daphne -e 'chat:tcp:port=8001:interface=127.0.0.1' asgi:channel_layer

takes the description after `chat:` as the endpoint to wrap
(deploy/daphne.sh writes it).
"""
import logging

from twisted.internet.endpoints import quoteStringArgument, serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint, IStreamServerEndpointStringParser
from twisted.plugin import IPlugin
from zope.interface import implementer

log = logging.getLogger(__name__)


@implementer(IStreamServerEndpoint)
class FrameLimitedEndpoint:
    """Listens on `wrapped`, with Daphne's WebSocket frames bounded."""

    def __init__(self, wrapped, max_frame_size):
        self.wrapped = wrapped
        self.max_frame_size = max_frame_size

    def listen(self, factory):
        # Daphne's HTTPFactory hands WebSocket upgrades to its ws_factory;
        # autobahn copies these options into each connection it makes.
        ws_factory = getattr(factory, "ws_factory", None)
        if ws_factory is None:
            raise TypeError("the chat: endpoint serves Daphne's HTTPFactory, not %r" % (factory,))
        # 0 means no limit, to autobahn as to our settings.
        ws_factory.setProtocolOptions(maxFramePayloadSize=self.max_frame_size,
                                      maxMessagePayloadSize=self.max_frame_size)
        log.info("WebSocket frames limited to %d bytes", self.max_frame_size)
        return self.wrapped.listen(factory)


@implementer(IPlugin, IStreamServerEndpointStringParser)
class FrameLimitedEndpointParser:
    prefix = "chat"

    def parseStreamServer(self, reactor, *args, **kwargs):
        if not args or not args[0]:
            raise ValueError("chat: needs the endpoint to wrap, as in chat:tcp:port=8001")
        description = ":".join(
            [quoteStringArgument(arg) for arg in args]
            + ["%s=%s" % (key, quoteStringArgument(value)) for key, value in kwargs.items()])
        return FrameLimitedEndpoint(serverFromString(reactor, description), max_frame_size())


def max_frame_size():
    # Daphne has imported asgi.py, and with it Django's settings, before it
    # parses its endpoints.
    from django.conf import settings
    return settings.CHANNEL_LAYERS["default"]["CONFIG"]["max_frame_size"]
