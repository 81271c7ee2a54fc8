"""
WebSocket consumers for /chat/<label>/, run by `manage.py runworker`.

Thin by design: read the message, call the domain, send. Each wears its
room-socket decorator stack (chat/room_socket.py), so two workers may share
a socket's messages and still handle them in order, and a bad frame costs
the sender one error frame, nothing more.

The receive consumer saves a chat message and sends it to the room in
one trip: the socket's order has one keeper (@enforce_ordering) and the
room is read once. Work that needs no per-socket order, the mention
notifications, goes on the background channel chat.background, which a
worker pool of its own may serve (chat/notifications.py).

Every send in these consumers passes immediately=True. Channels 1.1.8
otherwise holds a consumer's sends back until the consumer returns, but
@enforce_ordering releases the socket's next message before that: another
worker could then broadcast frame N+1 while frame N's broadcast is still
held back, and the room would receive them swapped.
"""
import logging

from django.conf import settings

from chat.announcements import send_latest as send_latest_announcement
from chat import presence
from chat.catchup import send_catchup
from chat.errors import ClientError, SavedButNotSent
from chat.frames import parse_chat_frame, parse_count, query_param
from chat.models import Room
from chat.notifications import queue_mentions
from chat.origins import origin_allowed
from chat.room_socket import room_socket, room_socket_disconnect, room_socket_from_http
from chat.rooms import get_room_or_error
from chat.wire import send_patiently, text_frame
from redis_layer.layer import RETRY_AFTER_KEY

log = logging.getLogger(__name__)

SESSION_ROOM_ID = "room_id"
SESSION_GUEST_NAME = "guest_name"  # the name this guest's presence shows

def room_for_handshake(message, label):
    """The room this handshake may join, or the error that turns it away for good."""
    if not origin_allowed(message):
        log.info("Refused a WebSocket to %r from a page of another site", label)
        raise ClientError("origin_not_allowed", "Pages of other sites may not open a socket here.")
    if query_param(message.content, "session_key") is not None and not settings.CHAT_SESSION_KEY_IN_QUERY:
        # channels reads a Django session from ?session_key= unconditionally;
        # keys in URLs end up in access logs (README, CHAT_SESSION_KEY_IN_QUERY).
        log.info("Refused a WebSocket to %r with ?session_key=", label)
        raise ClientError("session_key_refused", "This service takes the session from its cookie only.")
    return get_room_or_error(message.user, label=label)


def reject_unrouted_socket(message):
    """websocket.connect for a path no app claims: Daphne answers HTTP 403."""
    log.debug("Rejected WebSocket to unrouted path %r", message.content.get("path"))
    message.reply_channel.send({"close": True}, immediately=True)


@room_socket_from_http
def ws_connect(message, label):
    try:
        room = room_for_handshake(message, label)
    except ClientError:
        # Accepted only to be told why and closed (reply_errors): a browser
        # never sees a refused handshake's HTTP status, and could not tell
        # "stop" from "the server is down, retry". Nothing else reaches the
        # socket: it joins no Group and gets no presence, announcement or
        # catch-up, and a frame it sends finds no room in its session.
        message.reply_channel.send({"accept": True}, immediately=True)
        raise
    # Join the Group before the client hears it is in (it may send at once,
    # and expect its own echo and everyone's), and before reading the
    # catch-up, so a message saved in between reaches this socket at least
    # once (clients dedupe by id).
    room.websocket_group.add(message.reply_channel)
    if not send_patiently(message.reply_channel, {"accept": True}, "the handshake's accept"):
        # Daphne's reply list stayed full (overload): Daphne fails the
        # handshake at its connect timeout and the client retries later.
        room.websocket_group.discard(message.reply_channel)
        return
    message.channel_session[SESSION_ROOM_ID] = room.pk
    presence.joined(room, message.reply_channel.name, message.user)
    send_latest_announcement(message.reply_channel)
    after = parse_count(
        "after", query_param(message.content, "after"), default=None, code="invalid_after"
    )
    if after is not None:
        send_catchup(message.reply_channel, room, after)


@room_socket
def ws_receive(message, label):
    """Save a chat frame and send it to the room; a resent client_id is
    sent again, not saved twice."""
    room_id = message.channel_session.get(SESSION_ROOM_ID)
    if room_id is None:
        raise ClientError("not_connected", "This socket has not joined a room.")
    retry_after = message.content.get(RETRY_AFTER_KEY)
    if retry_after is not None:
        raise ClientError("rate_limited", "Too many messages at once; this one was not saved. "
                          "Try again in %s s." % retry_after, retry_after=retry_after)
    user = message.user if message.user.is_authenticated else None
    frame = parse_chat_frame(message.content, username=user.get_username() if user else None)
    room = get_room_or_error(message.user, room_id=room_id)
    saved, created = room.post(frame.handle, frame.message, frame.client_id, user_id=user.pk if user else None)
    if not created:
        log.debug("client_id %r resent in room %s: sending message %d again", frame.client_id, room.pk, saved.pk)
    # A resent message is broadcast again too: its first broadcast may be
    # what was lost, and clients keep messages by id.
    try:
        room.websocket_group.send(text_frame(saved.as_dict()), immediately=True)
    except Exception as failure:
        raise SavedButNotSent(saved.pk) from failure
    if created:
        queue_mentions(saved)
    if user is None and message.channel_session.get(SESSION_GUEST_NAME) != frame.handle:
        # Once per name, not per message: the session remembers it.
        presence.spoke(message.reply_channel.name, frame.handle)
        message.channel_session[SESSION_GUEST_NAME] = frame.handle


@room_socket_disconnect
def ws_disconnect(message, label):
    room_id = message.channel_session.get(SESSION_ROOM_ID)
    if room_id is not None:
        Room.websocket_group_for(room_id).discard(message.reply_channel)
        presence.left([message.reply_channel.name])
