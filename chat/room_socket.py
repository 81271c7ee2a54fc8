"""
The decorator stacks of the room socket's consumers, each named once (as
channels names `channel_session_user_from_http`):

    @room_socket_from_http   websocket.connect
    @room_socket             websocket.receive
    @room_socket_disconnect  websocket.disconnect

From the outside in:

    close_on_errors      a failure in channels' session handling (a store
                         that is down) closes the socket: its order is
                         unknown, and every later frame would wait for good
    enforce_ordering     per socket, run messages in the order they were
                         sent, so two workers may share a socket's messages
    reply_errors         no exception escapes: a ClientError or a crash
                         becomes one error frame to the sender (chat/errors.py).
                         Inside enforce_ordering, so the socket's order
                         moves on whatever happened
    channel_session_user(_from_http)
                         the signed-in user as message.user, moved from the
                         HTTP session cookie into the channel session at the
                         handshake. Inside reply_errors, so a handshake it
                         cannot parse is answered and closed, not left out
                         of order

The connect has skips_abandoned_handshakes outermost of all: a handshake
that waited in the queue longer than Daphne waits for its answer is
already gone, and its work would only delay the live ones behind it.

The disconnect has ends_channel_session (chat/sessions.py) outermost
instead of close_on_errors: it deletes the socket's session once the
disconnect really ran. It needs no user.
"""
import functools
import logging
import time

from channels.auth import channel_session_user, channel_session_user_from_http
from channels.sessions import enforce_ordering

from chat.errors import close_on_errors, reply_errors
from chat.sessions import ends_channel_session
from redis_layer.layer import QUEUED_AT_KEY

log = logging.getLogger(__name__)

# Daphne 1.4's websocket_handshake_timeout: a handshake with no accept by
# then is dropped unanswered (autobahn), and the client retries.
HANDSHAKE_TIMEOUT = 5.0


def skips_abandoned_handshakes(consumer):
    """Drops a websocket.connect that Daphne queued longer ago than it
    waits for an answer: in a reconnect storm, the workers would otherwise
    spend themselves on sockets already gone (a session, a Group, a presence
    row and a catch-up each) while the live handshakes behind them time out
    in turn, and the storm never ends. Nothing is kept for it: its
    disconnect finds no session and does nothing (ends_channel_session).
    The stamp is Daphne's wall clock: hosts running Daphne and workers keep
    their clocks in step (NTP), or a live handshake may be taken for an
    abandoned one and retried by its client."""

    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        queued_at = message.content.get(QUEUED_AT_KEY)
        if queued_at is not None and time.time() - queued_at > HANDSHAKE_TIMEOUT:
            log.debug("Dropped a handshake of %s queued %.1f s ago: its client has given up",
                      message.reply_channel, time.time() - queued_at)
            return None
        return consumer(message, *args, **kwargs)

    return inner


def room_socket_from_http(consumer):
    """A room socket's connect consumer, with the user from the HTTP session."""
    return skips_abandoned_handshakes(
        close_on_errors(enforce_ordering(reply_errors(channel_session_user_from_http(consumer)))))


def room_socket(consumer):
    """A room socket's receive consumer, with the user from the channel session."""
    return close_on_errors(enforce_ordering(reply_errors(channel_session_user(consumer))))


def room_socket_disconnect(consumer):
    """A room socket's disconnect consumer; its channel session ends with it."""
    return ends_channel_session(enforce_ordering(reply_errors(consumer)))
