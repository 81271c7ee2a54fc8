"""
WebSocket /notifications/: a signed-in user's sockets hear about messages
that mention them, in any room they may enter. A channels 1.x class-based
consumer (JsonWebsocketConsumer, routed with route_class). It refuses
anonymous users at the handshake: nobody can mention them, so their socket
would join no Group and hold a connection open to hear nothing.

@mentions: "@name" where the "@" follows no word character and the name is
all the characters Django allows in usernames (letters, digits, @ . + - _),
matched case-insensitively to an existing user. Looking them up and
telling them is a job on the background channel (chat/background.py), off
the path of the chat frame that saved the message.
"""
import logging
import re

from channels import Group
from channels.generic.websockets import JsonWebsocketConsumer
from django.contrib.auth import get_user_model

from chat.background import queue
from chat.models import Message

from chat.origins import origin_allowed
from chat.wire import text_frame

log = logging.getLogger(__name__)

MENTION = re.compile(r"(?<!\w)@([\w.@+-]+)")
MOST_MENTIONS = 20  # names looked up per message


def user_group_name(user_id):
    """The Group of one user's notification sockets."""
    return "chat.user.%d" % user_id


class NotificationsConsumer(JsonWebsocketConsumer):
    http_user = True  # the user from the session cookie, kept in the channel session

    def connection_groups(self, **kwargs):
        user = getattr(self.message, "user", None)
        if user is None or not user.is_authenticated:
            return []
        return [user_group_name(user.pk)]

    def raw_connect(self, message, **kwargs):
        # Refuse before channels adds the socket to any Group.
        if not origin_allowed(message) or not message.user.is_authenticated:
            log.info("Refused a notifications socket (%s)", message.user)
            message.reply_channel.send({"close": True})
            return
        super().raw_connect(message, **kwargs)

    def receive(self, content, **kwargs):
        pass  # nothing to say to the server here

    def disconnect(self, message, **kwargs):
        message.channel_session.delete()


def queue_mentions(saved):
    """After `saved` was saved and broadcast: if a signed-in user's message
    names anyone, queue telling them. Never an error of the sender's."""
    if saved.user_id is None or MENTION.search(saved.message) is None:
        return
    try:
        queue("mentions", message=saved.pk)
    except Exception:
        log.exception("Could not queue the mentions of message %d", saved.pk)


def send_mentions(message):
    """The background job: notify whom a saved message mentions."""
    saved = Message.objects.select_related("room").filter(pk=message.content["message"]).first()
    if saved is None:
        return  # deleted meanwhile: nothing to tell
    notify_mentions(saved.room, saved)


def notify_mentions(room, saved):
    """After a signed-in user's message `saved` was saved in `room`: tell
    each user it mentions, other than its sender, who may enter the room."""
    names = []
    for name in MENTION.findall(saved.message):
        if name.lower() not in names:
            names.append(name.lower())
    frame = text_frame({"type": "mention", "room": room.label, "message_id": saved.pk,
                        "from": saved.handle, "message": saved.message})
    for name in names[:MOST_MENTIONS]:
        user = get_user_model().objects.filter(username__iexact=name).first()
        if user is None or user.pk == saved.user_id or not room.may_enter(user):
            continue
        Group(user_group_name(user.pk)).send(frame, immediately=True)
