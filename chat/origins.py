"""
WebSocket handshakes from other sites' pages are refused.

Browsers send cookies with a WebSocket handshake to any site and let any
page open one, so a socket must come from a page of ours: its Origin header
names one of ALLOWED_HOSTS. A handshake without Origin comes from a program,
not a browser page, and is allowed.

channels 1.1.8 has this check as a decorator, `allowed_hosts_only`, but it
refuses handshakes without Origin, and it refuses by raising DenyConnection
from around the consumer, which skips enforce_ordering's count: the
socket's disconnect would then wait for a connect that never ran, and its
channel session would stay. Here its validator decides, and the consumer
refuses the handshake itself, inside enforce_ordering.
"""
from channels.security.websockets import AllowedHostsOnlyOriginValidator


class _OriginValidator(AllowedHostsOnlyOriginValidator):
    """channels' check (Origin's host against ALLOWED_HOSTS), used as a predicate."""

    def __init__(self):
        pass  # not wrapping a consumer


_validator = _OriginValidator()


def origin_allowed(message):
    """Whether a websocket.connect may go on: no Origin, or one of our hosts."""
    headers = message.content.get("headers") or []
    if isinstance(headers, dict):
        # channels.test's WSClient sends a dict of str (the reason stock
        # allowed_hosts_only refuses its every handshake); Daphne, pairs of bytes.
        headers = [(name.encode("latin1"), value.encode("latin1") if isinstance(value, str) else value)
                   for name, value in headers.items()]
    origins = [value for name, value in headers if name.lower() == b"origin"]
    if not origins:
        return True
    try:
        origin = origins[0].decode("ascii")
    except UnicodeDecodeError:
        return False
    return bool(_validator.validate_origin(message, origin))
