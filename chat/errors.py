"""
Client-facing errors, and the one place that turns them into a frame.

Consumers and views raise ClientError("code", "detail") for input the client
got wrong. `reply_errors` sits directly around a WebSocket consumer, inside
@enforce_ordering, and answers the sender with exactly one error frame:

    {"type": "error", "code": "message_too_long", "detail": "..."}

It also catches every other exception, logs it and answers "internal_error".
That matters in channels 1.1.8: an exception escaping an @enforce_ordering
consumer leaves the socket's order counter unadvanced, so every later
message of that socket waits on its __wait__ channel until it expires.
"""
import functools
import json
import logging

log = logging.getLogger(__name__)


class ClientError(Exception):
    """Input the client can fix; `code` is stable, `detail` is for humans."""

    def __init__(self, code, detail):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def as_dict(self):
        return {"type": "error", "code": self.code, "detail": self.detail}


INTERNAL_ERROR = ClientError(
    "internal_error", "The server failed to handle that message; it was not saved."
)


def send_error(reply_channel, error, close=False):
    reply = {"text": json.dumps(error.as_dict())}
    if close:
        reply["close"] = True
    # immediately: in order with the broadcasts (see chat/consumers.py).
    reply_channel.send(reply, immediately=True)


def reply_errors(consumer):
    """Answer the sender with an error frame instead of raising (see module docstring)."""

    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        try:
            return consumer(message, *args, **kwargs)
        except ClientError as error:
            log.debug("Rejected input on %s: %s (%s)", message.reply_channel, error.code, error.detail)
            reply, close = error, False
        except Exception:
            log.exception("Consumer %s failed on %s", consumer.__name__, message.channel.name)
            # A socket whose connect failed half-way never joined its room:
            # close it, so the client reconnects instead of waiting in silence.
            reply, close = INTERNAL_ERROR, message.channel.name == "websocket.connect"
        try:
            send_error(message.reply_channel, reply, close=close)
        except Exception:
            # The reply channel is full or the layer is down: the client will
            # not hear about it, but the worker and the socket's order live on.
            log.exception("Could not send %r to %s", reply.code, message.reply_channel)

    return inner
