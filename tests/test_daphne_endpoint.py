"""
The `chat:` Twisted endpoint Daphne listens on (proj/daphne_endpoint.py):
found as a plugin, wrapping the endpoint after `chat:`, and setting
autobahn's frame limits on Daphne's WebSocket factory.
"""
import pytest
from daphne.http_protocol import HTTPFactory
from django.test import override_settings
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint, serverFromString
from twisted.internet.protocol import Factory

from proj.daphne_endpoint import FrameLimitedEndpoint

LAYERS = {"default": {"BACKEND": "asgiref.inmemory.ChannelLayer", "ROUTING": "routing.channel_routing",
                      "CONFIG": {"max_frame_size": 1234}}}


@override_settings(CHANNEL_LAYERS=LAYERS)
@pytest.mark.parametrize("description, wrapped_type, interface", [
    ("chat:tcp:port=8001:interface=127.0.0.1", TCP4ServerEndpoint, "127.0.0.1"),
    # Twisted's tcp: endpoint listens on IPv6 too, given an IPv6 interface.
    (r"chat:tcp:port=8001:interface=\:\:1", TCP4ServerEndpoint, "::1"),
])
def test_the_plugin_wraps_the_endpoint_after_its_prefix(description, wrapped_type, interface):
    endpoint = serverFromString(reactor, description)
    assert isinstance(endpoint, FrameLimitedEndpoint)
    assert endpoint.max_frame_size == 1234
    assert isinstance(endpoint.wrapped, wrapped_type)
    assert (endpoint.wrapped._port, endpoint.wrapped._interface) == (8001, interface)


def test_a_bare_prefix_is_refused():
    with pytest.raises(ValueError, match="needs the endpoint to wrap"):
        serverFromString(reactor, "chat:")


class Recorder:
    def listen(self, factory):
        self.factory = factory
        return "listening"


def test_listening_limits_daphnes_websocket_frames():
    factory = HTTPFactory(channel_layer=None, send_channel="daphne.response.test!")
    wrapped = Recorder()
    assert FrameLimitedEndpoint(wrapped, 4096).listen(factory) == "listening"
    assert wrapped.factory is factory
    assert factory.ws_factory.maxMessagePayloadSize == 4096
    assert factory.ws_factory.maxFramePayloadSize == 4096


def test_it_refuses_to_serve_anything_but_daphne():
    with pytest.raises(TypeError, match="Daphne's HTTPFactory"):
        FrameLimitedEndpoint(Recorder(), 4096).listen(Factory())
