"""
The `chat:` Twisted endpoint Daphne listens on (interface/endpoint.py):
found as a plugin, wrapping the endpoint after `chat:`, setting autobahn's
frame limits on Daphne's WebSocket factory, and making each request a
interface.http_request.GuardedRequest (the body cap, the forwarded address),
here driven with raw bytes through Daphne's own HTTPFactory.
"""
import pytest
from daphne.http_protocol import HTTPFactory
from django.test import override_settings
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ServerEndpoint, serverFromString
from twisted.internet.protocol import Factory
from twisted.internet.testing import StringTransport

from interface.endpoint import ChatEndpoint

LAYERS = {"default": {"BACKEND": "asgiref.inmemory.ChannelLayer", "ROUTING": "routing.channel_routing",
                      "CONFIG": {"max_frame_size": 1234}}}


@override_settings(CHANNEL_LAYERS=LAYERS, CHAT_MAX_REQUEST_BODY=5678)
@pytest.mark.parametrize("description, wrapped_type, interface", [
    ("chat:tcp:port=8001:interface=127.0.0.1", TCP4ServerEndpoint, "127.0.0.1"),
    # Twisted's tcp: endpoint listens on IPv6 too, given an IPv6 interface.
    (r"chat:tcp:port=8001:interface=\:\:1", TCP4ServerEndpoint, "::1"),
])
def test_the_plugin_wraps_the_endpoint_after_its_prefix(description, wrapped_type, interface, monkeypatch):
    monkeypatch.setenv("DAPHNE_TRUSTED_PROXIES", "2")
    endpoint = serverFromString(reactor, description)
    assert isinstance(endpoint, ChatEndpoint)
    assert (endpoint.max_frame_size, endpoint.max_request_body, endpoint.trusted_proxies) == (1234, 5678, 2)
    assert isinstance(endpoint.wrapped, wrapped_type)
    assert (endpoint.wrapped._port, endpoint.wrapped._interface) == (8001, interface)


@override_settings(CHANNEL_LAYERS=LAYERS)
def test_one_trusted_proxy_and_a_mebibyte_by_default(monkeypatch):
    monkeypatch.delenv("DAPHNE_TRUSTED_PROXIES", raising=False)
    endpoint = serverFromString(reactor, "chat:tcp:port=8001")
    assert (endpoint.max_request_body, endpoint.trusted_proxies) == (1024 * 1024, 1)


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
    assert ChatEndpoint(wrapped, 4096).listen(factory) == "listening"
    assert wrapped.factory is factory
    assert factory.ws_factory.maxMessagePayloadSize == 4096
    assert factory.ws_factory.maxFramePayloadSize == 4096


def test_it_refuses_to_serve_anything_but_daphne():
    with pytest.raises(TypeError, match="Daphne's HTTPFactory"):
        ChatEndpoint(Recorder(), 4096).listen(Factory())


# --------------------------------------------------------------------------
# Requests through Daphne's factory, as the endpoint sets it up


class Layer:
    """What Daphne sends, by channel."""

    class ChannelFull(Exception):
        pass

    def __init__(self):
        self.sent = []

    def send(self, channel, message):
        self.sent.append((channel, message))

    def messages(self, channel):
        return [message for name, message in self.sent if name == channel]


def daphne(max_body=1000, trusted_proxies=1, proxy_headers=True):
    layer = Layer()
    factory = HTTPFactory(channel_layer=layer, send_channel="daphne.response.test!",
                          proxy_forwarded_address_header="X-Forwarded-For" if proxy_headers else None,
                          proxy_forwarded_port_header="X-Forwarded-Port" if proxy_headers else None,
                          proxy_forwarded_proto_header="X-Forwarded-Proto" if proxy_headers else None)
    ChatEndpoint(Recorder(), 4096, max_body, trusted_proxies).listen(factory)
    return factory, layer


def connection(factory, peer="127.0.0.9"):
    protocol = factory.buildProtocol(IPv4Address("TCP", peer, 40000))
    transport = StringTransport(peerAddress=IPv4Address("TCP", peer, 40000),
                                hostAddress=IPv4Address("TCP", "127.0.0.1", 8001))
    protocol.makeConnection(transport)
    return protocol, transport


def request(method=b"POST", path=b"/api/", headers=(), body=b""):
    head = b"%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, path)
    return head + b"".join(b"%s: %s\r\n" % header for header in headers) + b"\r\n" + body


def chunked(*chunks):
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def test_a_body_within_the_cap_reaches_the_layer():
    factory, layer = daphne(max_body=1000)
    protocol, transport = connection(factory)
    protocol.dataReceived(request(headers=[(b"Content-Length", b"1000")], body=b"x" * 1000))
    [message] = layer.messages("http.request")
    assert message["body"] == b"x" * 1000
    assert not transport.disconnecting


def test_a_content_length_over_the_cap_is_answered_413_before_any_body_is_read():
    factory, layer = daphne(max_body=1000)
    protocol, transport = connection(factory)
    protocol.dataReceived(request(headers=[(b"Content-Length", b"1001"), (b"Expect", b"100-continue")]))
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in transport.value()
    assert transport.disconnecting
    protocol.dataReceived(b"x" * 1001)
    assert layer.sent == []
    assert factory.reply_protocols == {}


def test_a_content_length_over_the_cap_sent_with_its_body_goes_nowhere():
    factory, layer = daphne(max_body=1000)
    protocol, transport = connection(factory)
    protocol.dataReceived(request(headers=[(b"Content-Length", b"5000")], body=b"x" * 5000))
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert layer.sent == []


def test_a_chunked_body_growing_past_the_cap_is_cut():
    factory, layer = daphne(max_body=1000)
    protocol, transport = connection(factory)
    protocol.dataReceived(request(headers=[(b"Transfer-Encoding", b"chunked")]))
    protocol.dataReceived(b"%x\r\n%s\r\n" % (600, b"x" * 600))
    assert not transport.disconnecting
    protocol.dataReceived(b"%x\r\n%s\r\n" % (600, b"x" * 600) + b"0\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert transport.disconnecting
    assert layer.sent == []


def test_a_chunked_body_within_the_cap_reaches_the_layer():
    factory, layer = daphne(max_body=1000)
    protocol, _ = connection(factory)
    protocol.dataReceived(request(headers=[(b"Transfer-Encoding", b"chunked")], body=chunked(b"x" * 500, b"y" * 500)))
    [message] = layer.messages("http.request")
    assert message["body"] == b"x" * 500 + b"y" * 500


def test_no_cap_at_zero():
    factory, layer = daphne(max_body=0)
    protocol, _ = connection(factory)
    protocol.dataReceived(request(headers=[(b"Content-Length", b"200000")], body=b"x" * 200000))
    assert len(layer.messages("http.request")[0]["body"]) == 200000


def http_client(headers, trusted_proxies=1, proxy_headers=True):
    factory, layer = daphne(trusted_proxies=trusted_proxies, proxy_headers=proxy_headers)
    protocol, _ = connection(factory)
    protocol.dataReceived(request(method=b"GET", path=b"/", headers=headers))
    [message] = layer.messages("http.request")
    return message["client"], message["scheme"], dict(message["headers"])


@pytest.mark.parametrize("trusted, forwarded_for, client", [
    (1, b"203.0.113.7", ["203.0.113.7", 0]),
    # Heroku's router appends the address it saw to what the client sent.
    (1, b"6.6.6.6, 203.0.113.7", ["203.0.113.7", 0]),
    (1, b"6.6.6.6,  , 7.7.7.7,203.0.113.7", ["203.0.113.7", 0]),
    (2, b"6.6.6.6, 203.0.113.7, 10.0.0.2", ["203.0.113.7", 0]),
    # Fewer entries than proxies, or no address where the client's should be: the peer.
    (2, b"203.0.113.7", ["127.0.0.9", 40000]),
    (1, b"unknown", ["127.0.0.9", 40000]),
    (1, b"6.6.6.6, 203.0.113.7\x1b[2J", ["127.0.0.9", 40000]),
    (0, b"203.0.113.7", ["127.0.0.9", 40000]),
    (1, b"[2001:db8::7]:51234", ["2001:db8::7", 0]),
])
def test_the_client_is_the_entry_the_nearest_trusted_proxy_appended(trusted, forwarded_for, client):
    address, _, headers = http_client([(b"X-Forwarded-For", forwarded_for)], trusted)
    assert address == client
    assert headers.get(b"x-forwarded-for") == (client[0].encode() if client[1] == 0 else None)


def test_two_header_lines_count_as_one_list():
    address, _, _ = http_client([(b"X-Forwarded-For", b"6.6.6.6"), (b"X-Forwarded-For", b"203.0.113.7")])
    assert address == ["203.0.113.7", 0]


def test_port_and_scheme_come_from_the_same_proxy():
    address, scheme, headers = http_client([
        (b"X-Forwarded-For", b"6.6.6.6, 203.0.113.7"),
        (b"X-Forwarded-Proto", b"http, https"),
        (b"X-Forwarded-Port", b"1, 443"),
    ])
    assert (address, scheme) == (["203.0.113.7", 443], "https")
    assert (headers[b"x-forwarded-proto"], headers[b"x-forwarded-port"]) == (b"https", b"443")


def test_without_proxy_headers_the_peer_is_the_client_whatever_is_sent():
    address, scheme, _ = http_client([(b"X-Forwarded-For", b"203.0.113.7"), (b"X-Forwarded-Proto", b"https")],
                                     proxy_headers=False)
    assert (address, scheme) == (["127.0.0.9", 40000], "http")


def handshake(headers, path=b"/chat/lobby/", trusted_proxies=1):
    factory, layer = daphne(trusted_proxies=trusted_proxies)
    protocol, transport = connection(factory)
    protocol.dataReceived(request(method=b"GET", path=path, headers=[
        (b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="), (b"Sec-WebSocket-Version", b"13"),
    ] + list(headers)))
    return layer.messages("websocket.connect"), transport


def test_a_websocket_handshake_takes_the_same_entry():
    [connect], _ = handshake([(b"X-Forwarded-For", b"6.6.6.6, 203.0.113.7")])
    assert connect["client"] == ["203.0.113.7", 0]


@pytest.mark.parametrize("smuggled", [
    [(b"User-Agent", b"x\x0bX-Forwarded-For: 6.6.6.6")],
    [(b"User-Agent", b"x\x0cX-Forwarded-For: 6.6.6.6")],
    [(b"User-Agent", b"x\x85X-Forwarded-For: 6.6.6.6")],
    [(b"X-Forwarded-For", b"203.0.113.7\x1e6.6.6.6")],
])
def test_a_handshake_that_autobahn_would_split_differently_is_refused(smuggled):
    # autobahn re-parses the handshake Daphne replays with str.splitlines()
    # (GHSA-2gqc-mwv3-66rp): it would see a header line Twisted did not.
    sent, transport = handshake([(b"X-Forwarded-For", b"203.0.113.7")] + smuggled)
    assert sent == []
    assert transport.value().startswith(b"HTTP/1.1 400 ")


# --------------------------------------------------------------------------
# What every request gets: no client-chosen root path, a bounded
# Content-Type, an access log line a client cannot break


def test_a_client_chosen_root_path_is_dropped():
    factory, layer = daphne()
    protocol, _ = connection(factory)
    protocol.dataReceived(request(method=b"GET", path=b"/x/admin/", headers=[(b"Daphne-Root-Path", b"/x")]))
    [message] = layer.messages("http.request")
    assert (message["root_path"], message["path"]) == ("", "/x/admin/")


def test_a_content_type_longer_than_real_ones_is_refused():
    factory, layer = daphne()
    protocol, transport = connection(factory)
    protocol.dataReceived(request(headers=[(b"Content-Type", b"text/plain; a=" + b"b" * 2000),
                                           (b"Content-Length", b"1")], body=b"x"))
    assert transport.value().startswith(b"HTTP/1.1 400 ")
    assert layer.messages("http.request") == []
    protocol, _ = connection(factory)
    protocol.dataReceived(request(headers=[(b"Content-Type", b"application/json"), (b"Content-Length", b"2")],
                                  body=b"{}"))
    assert len(layer.messages("http.request")) == 1


def test_the_access_log_escapes_what_a_client_put_in_a_path():
    import io

    from daphne.access import AccessLogGenerator
    log = io.StringIO()
    factory = HTTPFactory(channel_layer=Layer(), send_channel="daphne.response.test!",
                          action_logger=AccessLogGenerator(log))
    ChatEndpoint(Recorder(), 4096, 1000, 1).listen(factory)
    factory.log_action("http", "complete", {"path": "/x\n1.2.3.4 - - FAKE\x1b[2J", "status": 404, "method": "GET",
                                            "client": "127.0.0.1:1", "time_taken": 0, "size": 0})
    assert log.getvalue().count("\n") == 1
    assert "/x\\x0a1.2.3.4 - - FAKE\\x1b[2J" in log.getvalue()


# --------------------------------------------------------------------------
# Per-address HTTP budgets

from interface.http_request import AddressBudgets, budget_kind  # noqa: E402


@pytest.mark.parametrize("method, path, kind", [
    (b"GET", b"/lobby/", "rooms"), (b"HEAD", b"/caf%C3%A9/", "rooms"), (b"GET", b"/new/", "rooms"),
    (b"POST", b"/accounts/login/", "signin"), (b"POST", b"/admin/login/", "signin"),
    (b"POST", b"/accounts/signup/", "signup"),
    (b"GET", b"/", None), (b"GET", b"/admin/", None), (b"GET", b"/accounts/login/", None),
    (b"GET", b"/api/rooms/lobby/messages/", None), (b"GET", b"/static/chat/chat.js", None),
    (b"GET", b"/healthz", None), (b"POST", b"/lobby/", None),
])
def test_which_requests_spend_which_budget(method, path, kind):
    assert budget_kind(method, path) == kind


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_budget_refuses_past_its_burst_and_its_wait_is_honest():
    clock = Clock()
    budgets = AddressBudgets({"signin": (10 / 60.0, 10)}, clock=clock)
    assert [budgets.wait("signin", "192.0.2.1") for _ in range(10)] == [0] * 10
    wait = budgets.wait("signin", "192.0.2.1")
    assert wait == pytest.approx(6.0)
    for _ in range(50):  # hammering meanwhile costs nothing more
        assert budgets.wait("signin", "192.0.2.1") == pytest.approx(6.0)
    assert budgets.wait("signin", "192.0.2.2") == 0  # another address
    clock.now += wait - 0.01
    assert budgets.wait("signin", "192.0.2.1") > 0
    clock.now += 0.01
    assert budgets.wait("signin", "192.0.2.1") == 0  # let through exactly when it said


def test_a_kind_at_rate_zero_is_not_metered():
    budgets = AddressBudgets({"rooms": (0, 0)})
    assert all(budgets.wait("rooms", "192.0.2.1") == 0 for _ in range(1000))


def test_over_budget_daphne_answers_429_with_retry_after_and_nothing_reaches_the_layer():
    layer = Layer()
    factory = HTTPFactory(channel_layer=layer, send_channel="daphne.response.test!",
                          proxy_forwarded_address_header="X-Forwarded-For")
    ChatEndpoint(Recorder(), 4096, 1000, 1, {"signup": (10 / 3600.0, 2)}).listen(factory)
    answers = []
    for forged in (b"6.6.6.1", b"6.6.6.2", b"6.6.6.3"):  # rotating what the client writes
        protocol, transport = connection(factory)
        protocol.dataReceived(request(path=b"/accounts/signup/", headers=[
            (b"X-Forwarded-For", forged + b", 203.0.113.7"), (b"Content-Length", b"0")]))
        answers.append(transport.value())
    assert len(layer.messages("http.request")) == 2
    assert answers[2].startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert b"\r\nRetry-After: 360\r\n" in answers[2]
