"""
Who is in each room: signed-in users by username (once, however many
sockets they have open), guests by the name their last saved message gave
(once each), and every guest socket as a count.

Each open chat socket has a Presence row, written by its connect and
deleted by its disconnect, or by the workers' pruner when the disconnect
never came (chat/pruning.py: a killed Daphne's sockets go within 45 s); a
guest's row takes its name when the guest first writes under it.
`manage.py runpresence`, one long-running process, reads the rows every
second and sends each room whose presence changed

    {"type": "presence", "room": <label>, "users": [sorted usernames],
     "guests": [sorted guest names], "anonymous": <guest sockets>,
     "head": <the room's newest message id, or null>}

to the room, at most once a second per room and only when the names or
the count changed, within two seconds of it; a socket that connected
without changing them (a second tab of a signed-in user) gets the room's
presence on its own, so every new socket hears it within two seconds.

`head` lets a client notice a lost last message while the room is idle
(no later message would show the hole). A new head alone is sent once it
has stood still for one look: a busy room's messages show their holes
themselves, so it costs a frame per socket only when a room falls quiet.

While nobody comes, goes, names itself or writes, each look is two small
index reads (the rows' count, newest id and latest change: ids are never
reused; and the newest message id), not a read of every row: an idle
service stays idle.
"""
from collections import defaultdict, namedtuple

from channels import Channel
from django.db import connection
from django.db.models import Count, Max, OuterRef, Subquery
from django.utils import timezone

from chat.models import Message, Presence, Room
from chat.wire import text_frame


def joined(room, reply_channel, user):
    # One plain INSERT that ignores a row already there (a socket connects
    # once): update_or_create would read then write in one transaction, and
    # SQLite fails such an upgrade with "database is locked" while another
    # worker writes, instead of waiting; and every handshake runs it, so it
    # is not compiled through the ORM (as chat.models.PlainSelect).
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "%s chat_presence (room_id, reply_channel, user_id, handle, since, changed) "
            "VALUES (%%s, %%s, %%s, '', %%s, %%s) %s" % (
                connection.ops.insert_statement(ignore_conflicts=True),
                connection.ops.ignore_conflicts_suffix_sql(ignore_conflicts=True)),
            [room.pk, reply_channel, user.pk if user is not None and user.is_authenticated else None, now, now])


def spoke(reply_channel, handle):
    """A guest's socket saved a message under `handle`: name its row."""
    Presence.objects.filter(reply_channel=reply_channel, user=None).update(handle=handle, changed=timezone.now())


def left(reply_channels):
    reply_channels = list(reply_channels)
    with connection.cursor() as cursor:
        # In chunks: SQLite takes a bounded number of parameters a statement.
        for start in range(0, len(reply_channels), 500):
            chunk = reply_channels[start:start + 500]
            cursor.execute("DELETE FROM chat_presence WHERE reply_channel IN (%s)" % ", ".join(["%s"] * len(chunk)),
                           chunk)


RoomState = namedtuple("RoomState", "label users guests anonymous sockets head")


def presence_of_rooms():
    """{room id: RoomState} for rooms with anyone in."""
    users, guests, anonymous, sockets, labels = (defaultdict(set), defaultdict(set), defaultdict(int),
                                                 defaultdict(set), {})
    rows = Presence.objects.values_list("room_id", "room__label", "user__username", "handle", "reply_channel")
    for room_id, label, username, handle, reply_channel in rows:
        labels[room_id] = label
        sockets[room_id].add(reply_channel)
        if username is not None:
            users[room_id].add(username)
            continue
        anonymous[room_id] += 1
        if handle:
            guests[room_id].add(handle)
    heads = heads_of(labels)
    return {room_id: RoomState(label, sorted(users[room_id]), sorted(guests[room_id]), anonymous[room_id],
                               frozenset(sockets[room_id]), heads.get(room_id))
            for room_id, label in labels.items()}


def heads_of(room_ids):
    """{room id: its newest message id} (absent for a room without messages):
    one index lookup per room, however long its history."""
    newest = Message.objects.filter(room=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    return dict(Room.objects.filter(pk__in=list(room_ids)).annotate(head=Subquery(newest))
                .exclude(head=None).values_list("pk", "head"))


def frame(state):
    return text_frame({"type": "presence", "room": state.label, "users": state.users, "guests": state.guests,
                       "anonymous": state.anonymous, "head": state.head})


class Pusher:
    """runpresence's state between looks: what each room was last sent."""

    def __init__(self):
        self.last_sent = {}  # room id -> the RoomState last sent to it
        self.rising = {}     # room id -> a new head seen at the last look, not sent yet
        self.seen = None     # what the cheap reads saw when last_sent was made

    def forget(self):
        """Send everything again at the next look (Redis may have lost it)."""
        self.last_sent.clear()
        self.rising.clear()
        self.seen = None

    def look(self):
        rows = Presence.objects.aggregate(count=Count("id"), newest=Max("id"), changed=Max("changed"))
        newest_message = Message.objects.order_by("-pk").values_list("pk", flat=True).first()
        seen = (rows["count"], rows["newest"], rows["changed"], newest_message)
        if seen != self.seen or self.rising:
            self.send_changes()
            self.seen = seen

    def send_changes(self):
        """Send every room whose sockets changed since last sent, and every
        room whose new head stood still since the last look."""
        now = presence_of_rooms()
        for room_id in set(self.last_sent) - set(now):  # the last one left: nobody to tell
            del self.last_sent[room_id]
            self.rising.pop(room_id, None)
        for room_id, state in now.items():
            before = self.last_sent.get(room_id)
            if before is None or (before.users, before.guests, before.anonymous) != (
                    state.users, state.guests, state.anonymous):
                self.send_to_room(room_id, state)
                continue
            for reply_channel in state.sockets - before.sockets:  # newcomers who changed nothing
                Channel(reply_channel).send(frame(state), immediately=True)
            if state.head == before.head:
                self.last_sent[room_id] = state
            elif self.rising.get(room_id) == state.head:
                self.send_to_room(room_id, state)
            else:
                self.rising[room_id] = state.head  # still moving: wait a look
                self.last_sent[room_id] = before._replace(sockets=state.sockets)

    def send_to_room(self, room_id, state):
        Room.websocket_group_for(room_id).send(frame(state), immediately=True)
        self.last_sent[room_id] = state
        self.rising.pop(room_id, None)
