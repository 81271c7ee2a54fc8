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
     "guests": [sorted guest names], "anonymous": <guest sockets>}

to the room, at most once a second per room and only when the names or
the count changed, within two seconds of it; a socket that connected
without changing them (a second tab of a signed-in user) gets the room's
presence on its own, so every new socket hears it within two seconds.

While nobody comes, goes or names itself, each look is one small query
(the rows' count, newest id and latest change: ids are never reused), not
a read of every row: an idle service stays idle.
"""
from collections import defaultdict

from channels import Channel
from django.db.models import Count, Max
from django.utils import timezone

from chat.models import Presence, Room
from chat.wire import text_frame


def joined(room, reply_channel, user):
    # One plain INSERT (a socket connects once): update_or_create would read
    # then write in one transaction, and SQLite fails such an upgrade with
    # "database is locked" while another worker writes, instead of waiting.
    Presence.objects.bulk_create([Presence(
        room=room, reply_channel=reply_channel,
        user=user if user is not None and user.is_authenticated else None)], ignore_conflicts=True)


def spoke(reply_channel, handle):
    """A guest's socket saved a message under `handle`: name its row."""
    Presence.objects.filter(reply_channel=reply_channel, user=None).update(handle=handle, changed=timezone.now())


def left(reply_channels):
    Presence.objects.filter(reply_channel__in=list(reply_channels)).delete()


def presence_of_rooms():
    """{room id: (label, sorted usernames, sorted guest names, guest sockets, sockets)}
    for rooms with anyone in."""
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
    return {room_id: (label, sorted(users[room_id]), sorted(guests[room_id]), anonymous[room_id],
                      frozenset(sockets[room_id]))
            for room_id, label in labels.items()}


def frame(label, users, guests, anonymous):
    return text_frame({"type": "presence", "room": label, "users": users, "guests": guests,
                       "anonymous": anonymous})


class Pusher:
    """runpresence's state between looks: what each room was last sent."""

    def __init__(self):
        self.last_sent = {}
        self.seen = None  # the Presence rows' (count, newest id) when last_sent was made

    def forget(self):
        """Send everything again at the next look (Redis may have lost it)."""
        self.last_sent.clear()
        self.seen = None

    def look(self):
        rows = Presence.objects.aggregate(count=Count("id"), newest=Max("id"), changed=Max("changed"))
        seen = (rows["count"], rows["newest"], rows["changed"])
        if seen != self.seen:
            send_changes(self.last_sent)
            self.seen = seen


def send_changes(last_sent):
    """Send every room whose sockets changed since `last_sent` (updated in place)."""
    now = presence_of_rooms()
    for room_id in set(now) | set(last_sent):
        state = now.get(room_id)
        if state == last_sent.get(room_id):
            continue
        if state is None:  # the last one left: tell nobody (nobody is there); forget it
            del last_sent[room_id]
            continue
        label, users, guests, anonymous, sockets = state
        before = last_sent.get(room_id)
        if before is not None and before[1:4] == (users, guests, anonymous):
            for reply_channel in sockets - before[4]:  # newcomers who changed nothing
                Channel(reply_channel).send(frame(label, users, guests, anonymous), immediately=True)
        else:
            Room.websocket_group_for(room_id).send(frame(label, users, guests, anonymous), immediately=True)
        last_sent[room_id] = state
