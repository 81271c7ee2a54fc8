"""
Rooms and their messages. The model owns its wire shape (as_dict) and its
Group, so a chat frame is built in exactly one place.
"""
import secrets

from channels import Group
from django.db import models
from django.utils import timezone

# A room label as it appears in URLs: /<label>/ and /chat/<label>/.
LABEL_PATTERN = r"[-\w]{1,50}"

HANDLE_MAX_LENGTH = 64
MESSAGE_MAX_LENGTH = 2000


def random_label():
    """A fresh, unguessable label for /new/ (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


class RoomQuerySet(models.QuerySet):
    def by_latest_activity(self):
        """Rooms with the newest message (or creation, if still empty) first."""
        return self.annotate(
            last_message_at=models.Max("messages__timestamp"),
        ).annotate(
            last_activity=models.functions.Coalesce("last_message_at", "created"),
        ).order_by("-last_activity", "-pk")


class Room(models.Model):
    label = models.SlugField(max_length=50, unique=True, allow_unicode=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    objects = RoomQuerySet.as_manager()

    def __str__(self):
        return self.label

    @staticmethod
    def websocket_group_for(room_id):
        """The room's Group, from its id alone (a disconnect needs no query)."""
        # Channel-layer names allow only ASCII letters, digits, "-", "_" and
        # "." and fewer than 100 characters; a label may be Unicode, the
        # primary key never is.
        return Group("chat.room.%d" % room_id)

    @property
    def websocket_group(self):
        return self.websocket_group_for(self.pk)

    def messages_after(self, after_id, limit):
        """Messages with id > after_id, oldest first, at most `limit` of them."""
        return self.messages.filter(pk__gt=after_id).order_by("pk")[:limit]

    def latest_messages(self, count):
        """The last `count` messages, oldest first, for the room page."""
        newest_first = self.messages.order_by("-pk")[:count]
        return list(reversed(newest_first))


class Message(models.Model):
    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    handle = models.CharField(max_length=HANDLE_MAX_LENGTH)
    message = models.TextField(max_length=MESSAGE_MAX_LENGTH)
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return "[%s] %s: %s" % (self.room.label, self.handle, self.message[:40])

    def as_dict(self):
        """The message as every client sees it, over WebSocket and HTTP."""
        return {
            "type": "message",
            "id": self.pk,
            "room": self.room.label,
            "handle": self.handle,
            "message": self.message,
            "timestamp": self.timestamp.astimezone(timezone.utc).isoformat(),
        }
