"""
Channel sessions: a socket's state between its messages (its room, and
enforce_ordering's counter), shared by every worker so any of them can take
any message.

CHANNEL_SESSION_ENGINE names this module. With Redis they live in Redis
(the cache named by SESSION_CACHE_ALIAS, proj/settings.py): every frame
loads and saves its session, which costs several times less than in PostgreSQL
(bench/results/channel_sessions.txt), and a socket's state is worth no more than
the socket, which a Redis restart closes anyway (interface/disconnects.py). Without
Redis (runserver), in the database.

A session lives as long as its socket: `ends_channel_session` deletes it
after the disconnect, the pruner (chat/pruning.py) when no disconnect
came, and any left over expires after CHANNEL_SESSION_MAX_AGE instead of
Django's two weeks.
"""
import functools

from channels.sessions import session_for_reply_channel
from django.conf import settings
from django.contrib.sessions.backends import cache, db
from django.contrib.sessions.backends.base import UpdateError

# channels.sessions.enforce_ordering keeps the next expected order here.
NEXT_ORDER_KEY = "__channels_next_order"


class ChannelSessionExpiry:
    """CHANNEL_SESSION_MAX_AGE, not SESSION_COOKIE_AGE, unless set per session."""

    def get_expiry_age(self, **kwargs):
        kwargs.setdefault("expiry", self.get("_session_expiry") or settings.CHANNEL_SESSION_MAX_AGE)
        return super().get_expiry_age(**kwargs)

    def get_expiry_date(self, **kwargs):
        kwargs.setdefault("expiry", self.get("_session_expiry") or settings.CHANNEL_SESSION_MAX_AGE)
        return super().get_expiry_date(**kwargs)


class RedisSessionStore(ChannelSessionExpiry, cache.SessionStore):
    # channels' channel_session loads a socket's session (a GET), then asks
    # whether it exists (an EXISTS) before every connect, frame and
    # disconnect: the GET has just answered that. (key, existed) of the last
    # load, until the next save or delete.
    _loaded = None

    def load(self):
        key = self.session_key
        session = super().load()  # a miss sets session_key to None
        self._loaded = (key, self.session_key is not None)
        return session

    def exists(self, session_key):
        if self._loaded is not None and self._loaded[0] == session_key:
            return self._loaded[1]
        return super().exists(session_key)

    def delete(self, session_key=None):
        self._loaded = None
        super().delete(session_key)

    def save(self, must_create=False):
        """Django's cache store reads a session back before each save (a
        GET, then the SET) so as not to bring back one deleted meanwhile:
        here one SET ... XX, "only if it still exists", does both. Every
        frame saves its socket's session, so this is a round trip a frame."""
        self._loaded = None
        if self.session_key is None or must_create:
            return super().save(must_create)
        if not self._cache.set(self.cache_key, self._get_session(), self.get_expiry_age(), xx=True):
            raise UpdateError


class DatabaseSessionStore(ChannelSessionExpiry, db.SessionStore):
    pass


SessionStore = RedisSessionStore if settings.CHANNEL_SESSIONS_IN_REDIS else DatabaseSessionStore


def ends_channel_session(consumer):
    """Wraps a websocket.disconnect consumer (outside @enforce_ordering):
    once the disconnect has really run, the socket's session is deleted.
    A disconnect that overtook earlier frames is parked by enforce_ordering
    and comes back later; its session stays until then.

    A disconnect whose session is already gone (the pruner ended the socket
    first, or its connect expired unrun) has nothing left to do: running it
    would make channel_session create an empty session, and enforce_ordering
    park the disconnect until it expired, leaving that session behind."""

    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        existing = session_for_reply_channel(message.reply_channel.name)
        if not existing.exists(existing.session_key):
            return
        consumer(message, *args, **kwargs)
        session = getattr(message, "channel_session", None)
        if session is not None and session.get(NEXT_ORDER_KEY) == int(message.content["order"]) + 1:
            session.delete()

    return inner
