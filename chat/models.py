"""
Rooms and their messages. The model owns its wire shape (as_dict) and its
Group, so a chat frame is built in exactly one place.
"""
import functools
import re
import secrets

from channels import Group
from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.functional import cached_property

# A room label as it appears in URLs: /<label>/ and /chat/<label>/.
LABEL_PATTERN = r"[-\w]{1,50}"

HANDLE_MAX_LENGTH = 64
MESSAGE_MAX_LENGTH = 2000
CLIENT_ID_PATTERN = r"[-\w]{1,64}"


def is_client_id(value):
    """A client's own id for a message: 1 to 64 of letters, digits, "_", "-"."""
    return isinstance(value, str) and re.fullmatch(CLIENT_ID_PATTERN, value) is not None


# Labels /new/ makes are read aloud and typed on phones: lowercase letters
# and digits without the ones that look or sound alike (i, l, 1, o, 0), in
# groups of four, e.g. "k7qm-x3dp-9fhr". 31 symbols, 12 of them: 59 bits.
LABEL_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LABEL_GROUPS, LABEL_GROUP_SIZE = 3, 4


def random_label():
    """A fresh, unguessable label for /new/, easy to read out and type."""
    return "-".join("".join(secrets.choice(LABEL_ALPHABET) for _ in range(LABEL_GROUP_SIZE))
                    for _ in range(LABEL_GROUPS))


class PlainSelect:
    """A plain SELECT of one model's columns, its rows made instances as the
    ORM's own reads make them (e.g. SQLite's datetimes made aware). For the
    reads every handshake, chat frame and catch-up makes: through the ORM,
    building and compiling those queries costs several times running them
    (bench/results/analysis.md)."""

    def __init__(self, model, table_alias):
        self.model = model
        self.columns = [field.get_col(table_alias) for field in model._meta.concrete_fields]
        self.sql = ", ".join("%s.%s" % (table_alias, connection.ops.quote_name(col.target.column))
                             for col in self.columns)
        converters = [connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                      for col in self.columns]
        self.converters = [(index, self.columns[index], each) for index, each in enumerate(converters) if each]
        self.attnames = [col.target.attname for col in self.columns]

    @classmethod
    @functools.lru_cache(maxsize=None)
    def of(cls, model, table_alias, vendor):
        """The one PlainSelect of `model` for this process's database
        (`vendor`: connection.vendor), built once: building one costs as
        much as the read it saves."""
        return cls(model, table_alias)

    def first(self, rest, params):
        """The instance the first row of `SELECT <the columns> <rest>` makes, or None."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s %s" % (self.sql, rest), params)
            row = cursor.fetchone()
        return self.instance(row) if row is not None else None

    def instance(self, row):
        values = list(row)
        for index, col, converters in self.converters:
            for convert in converters:
                values[index] = convert(values[index], col, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


class RoomQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The rooms `user` may enter (Room.may_enter), for lists."""
        if user.is_staff:
            return self
        if user.is_authenticated:
            return self.exclude(access=Room.STAFF)
        return self.filter(access=Room.PUBLIC)

    def by_latest_activity(self):
        """Rooms that have messages, the latest first: an index read, not an
        aggregate over every message. A room nobody wrote in is nobody's to
        list: anyone can make one by visiting its URL."""
        return self.filter(last_message_at__isnull=False).order_by("-last_message_at", "-pk")

    def unused(self, since):
        """Public rooms made before `since` in which nobody ever wrote and
        nobody is now: a visit made them, and a visit makes them again."""
        return self.filter(access=Room.PUBLIC, last_message_at__isnull=True, created__lt=since).exclude(
            pk__in=Presence.objects.values("room_id"))

    def find(self, pk=None, label=None):
        """The room with this `pk` or `label`, or None (a PlainSelect)."""
        column, value = ("id", pk) if pk is not None else ("label", label)
        return PlainSelect.of(self.model, "chat_room", connection.vendor).first(
            "FROM chat_room WHERE %s = %%s" % column, [value])


class Room(models.Model):
    PUBLIC, MEMBERS, STAFF = "public", "members", "staff"
    ACCESS_CHOICES = [
        (PUBLIC, "public: anyone"),
        (MEMBERS, "members: signed-in users"),
        (STAFF, "staff: staff users"),
    ]

    label = models.SlugField(max_length=50, unique=True, allow_unicode=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    # Who may read and post. Rooms made by a first visit are public.
    access = models.CharField(max_length=8, choices=ACCESS_CHOICES, default=PUBLIC)
    # When the newest message was saved; None until someone writes.
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = RoomQuerySet.as_manager()

    def __str__(self):
        return self.label

    def may_enter(self, user):
        """Whether `user` (AnonymousUser too) may see and join this room."""
        if self.access == self.STAFF:
            return user.is_staff
        if self.access == self.MEMBERS:
            return user.is_authenticated
        return True

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
        return self._page("m.id > %s", [after_id], "ASC", limit)

    def messages_before(self, before_id, after_id, limit):
        """The last `limit` messages with after_id < id < before_id, oldest first (scrolling back)."""
        return self._page("m.id > %s AND m.id < %s", [after_id, before_id], "DESC", limit)[::-1]

    def latest_messages(self, count):
        """The last `count` messages, oldest first, for the room page."""
        return self._page("1 = 1", [], "DESC", count)[::-1]

    # A page of this room's messages, each with the id of the room's message
    # before it (as MessageQuerySet.with_previous_id): a PlainSelect, since
    # every catch-up and history request reads one.
    PAGE_SQL = ("SELECT %s, (SELECT p.id FROM chat_message p WHERE p.room_id = m.room_id AND p.id < m.id "
                "ORDER BY p.id DESC LIMIT 1) FROM chat_message m WHERE m.room_id = %%s AND %s "
                "ORDER BY m.id %s LIMIT %%s")

    def _page(self, where, params, order, limit):
        select = PlainSelect.of(Message, "m", connection.vendor)
        with connection.cursor() as cursor:
            cursor.execute(self.PAGE_SQL % (select.sql, where, order), [self.pk] + params + [limit])
            rows = cursor.fetchall()
        page = []
        for row in rows:
            message = select.instance(row[:-1])
            message.room = self
            message.previous_id = row[-1]
            page.append(message)
        return page

    LOCK_SQL = "UPDATE chat_room SET last_message_at = %s WHERE id = %s"
    # The room's newest message id, and the id of the message this sender
    # already saved with this client_id (NULL = none, or no client_id).
    PREVIOUS_AND_EARLIER_SQL = (
        "SELECT (SELECT id FROM chat_message WHERE room_id = %%s ORDER BY id DESC LIMIT 1), "
        "(SELECT id FROM chat_message WHERE room_id = %%s AND client_id = %%s AND %s = %%s LIMIT 1)")

    INSERT_SQL = ("INSERT INTO chat_message (room_id, handle, message, timestamp, client_id, user_id) "
                  "VALUES (%s, %s, %s, %s, %s, %s)")

    def post(self, handle, text, client_id=None, user_id=None):
        """
        Save a message; returns (message, created). `user_id`: the signed-in
        sender's, whose username `handle` is. A client_id this handle (or this
        user) already used in this room returns the saved message instead of
        a second copy, so a client may resend whatever got no echo.

        The room is write-locked first, so one room's messages commit in id
        order and each knows the id before it: clients find a gap by
        `previous_id` (docs/protocol.md).
        """
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            # Plain SQL for the three statements every chat frame runs:
            # through the ORM, compiling them would cost more than running
            # them. The UPDATE takes the lock on both databases:
            # PostgreSQL locks the row; SQLite takes its write lock now,
            # instead of failing "database is locked" when a reader tries
            # to upgrade.
            cursor.execute(self.LOCK_SQL, [connection.ops.adapt_datetimefield_value(now), self.pk])
            sender = ("user_id", user_id) if user_id is not None else ("handle", handle)
            cursor.execute(self.PREVIOUS_AND_EARLIER_SQL % sender[0], [self.pk, self.pk, client_id, sender[1]])
            previous_id, earlier_id = cursor.fetchone()
            if earlier_id is not None:
                return self.messages.with_previous_id().get(pk=earlier_id), False
            returning = connection.features.can_return_id_from_insert  # PostgreSQL: RETURNING id
            cursor.execute(self.INSERT_SQL + (" RETURNING id" if returning else ""), [
                self.pk, handle, text, connection.ops.adapt_datetimefield_value(now), client_id, user_id])
            message_id = cursor.fetchone()[0] if returning else cursor.lastrowid
        message = Message(pk=message_id, room=self, handle=handle, message=text, timestamp=now,
                          client_id=client_id, user_id=user_id)
        message._state.adding, message._state.db = False, connection.alias
        message.previous_id = previous_id
        return message, True


class MessageQuerySet(models.QuerySet):
    def with_previous_id(self):
        """Annotate each message with the id of the room's message before it
        (None for the first), computed at read time, so deletions never
        leave a client waiting for a message that is gone."""
        before = Message.objects.filter(
            room=models.OuterRef("room"), pk__lt=models.OuterRef("pk")).order_by("-pk")
        return self.annotate(previous_id=models.Subquery(before.values("pk")[:1]))


class Message(models.Model):
    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    handle = models.CharField(max_length=HANDLE_MAX_LENGTH)
    message = models.TextField(max_length=MESSAGE_MAX_LENGTH)
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    # The sender's own id for this message, to make resending safe (post()).
    client_id = models.CharField(max_length=64, null=True, blank=True)
    # The signed-in sender, if any: then `handle` is their username.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                             on_delete=models.SET_NULL)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["room", "id"], name="chat_message_room_id")]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "handle", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="chat_message_unique_client_id",
            ),
        ]

    def __str__(self):
        return "[%s] %s: %s" % (self.room.label, self.handle, self.message[:40])

    @cached_property
    def previous_id(self):
        """The id of the room's message before this one; queries
        with_previous_id() and Room.post() set it without this query."""
        return self.room.messages.filter(pk__lt=self.pk).order_by("-pk").values_list("pk", flat=True).first()

    def as_dict(self):
        """The message as every client sees it, over WebSocket and HTTP."""
        shape = {
            "type": "message",
            "id": self.pk,
            "previous_id": self.previous_id,
            "room": self.room.label,
            "handle": self.handle,
            # Whether the handle is a signed-in user's name, not a name typed in.
            "user": self.user_id is not None,
            "message": self.message,
            "timestamp": self.timestamp.astimezone(timezone.utc).isoformat(),
        }
        if self.client_id is not None:
            shape["client_id"] = self.client_id
        return shape


class AnnouncementQuerySet(models.QuerySet):
    def latest_active(self):
        """The newest active announcement, or None: every handshake reads
        it, so it is a PlainSelect."""
        return PlainSelect.of(self.model, "a", connection.vendor).first(
            "FROM chat_announcement a WHERE a.active = %s ORDER BY a.created DESC, a.id DESC LIMIT 1", [True])


class Announcement(models.Model):
    """A banner for every open page, edited by staff in the admin
    (chat/announcements.py sends it)."""
    text = models.TextField(max_length=500)
    created = models.DateTimeField(default=timezone.now)
    active = models.BooleanField(default=True)

    objects = AnnouncementQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self):
        return self.text[:60]

    def as_dict(self):
        return {
            "type": "announcement",
            "id": self.pk,
            "text": self.text,
            "timestamp": self.created.astimezone(timezone.utc).isoformat(),
            "active": self.active,
        }


class Presence(models.Model):
    """One open chat socket: who is in which room (chat/presence.py)."""
    room = models.ForeignKey(Room, related_name="+", on_delete=models.CASCADE)
    reply_channel = models.CharField(max_length=200, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                             on_delete=models.CASCADE)
    # A guest's name, as its last saved message gave it ("" until then).
    handle = models.CharField(max_length=HANDLE_MAX_LENGTH, blank=True, default="")
    since = models.DateTimeField(default=timezone.now)
    # When the row last changed (a guest named itself): runpresence looks here.
    changed = models.DateTimeField(auto_now=True)
