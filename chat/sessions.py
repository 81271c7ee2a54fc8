"""
Channel sessions: a socket's state between its messages (its room, and
enforce_ordering's counter), kept in the database so any worker can take
any message and a Redis restart loses none of it.

CHANNEL_SESSION_ENGINE names this module. A session lives as long as its
socket: `ends_channel_session` deletes it after the disconnect, and one
whose disconnect never came (a Daphne killed outright) expires after
CHANNEL_SESSION_MAX_AGE instead of Django's two weeks (clearsessions).
"""
import functools

from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore

# channels.sessions.enforce_ordering keeps the next expected order here.
NEXT_ORDER_KEY = "__channels_next_order"


class SessionStore(DatabaseSessionStore):
    def get_expiry_date(self, **kwargs):
        kwargs.setdefault("expiry", self.get("_session_expiry") or settings.CHANNEL_SESSION_MAX_AGE)
        return super().get_expiry_date(**kwargs)


def ends_channel_session(consumer):
    """Wraps a websocket.disconnect consumer (outside @enforce_ordering):
    once the disconnect has really run, the socket's session is deleted.
    A disconnect that overtook earlier frames is parked by enforce_ordering
    and comes back later; its session stays until then."""

    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        consumer(message, *args, **kwargs)
        session = getattr(message, "channel_session", None)
        if session is not None and session.get(NEXT_ORDER_KEY) == int(message.content["order"]) + 1:
            session.delete()

    return inner
