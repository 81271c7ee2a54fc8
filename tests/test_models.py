"""The model's wire shape and queries."""
import re
from datetime import timedelta

from django.test import TestCase
from django.utils import timezone

from chat.models import LABEL_PATTERN, Announcement, Message, Presence, Room, random_label


def is_valid_label(label):
    """The rule /<label>/ and /chat/<label>/ both route by."""
    return re.fullmatch(LABEL_PATTERN, label) is not None


class RoomTests(TestCase):
    def test_message_wire_shape(self):
        room = Room.objects.create(label="lobby")
        message = room.messages.create(handle="alice", message="hi")
        shape = message.as_dict()
        self.assertEqual(set(shape), {"type", "id", "previous_id", "room", "handle", "user", "message", "timestamp"})
        self.assertIs(shape["user"], False)
        self.assertEqual((shape["type"], shape["id"], shape["room"]), ("message", message.pk, "lobby"))
        self.assertRegex(shape["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")

    def test_post_chains_messages_per_room(self):
        room, other = Room.objects.create(label="lobby"), Room.objects.create(label="other")
        first, _ = room.post("alice", "one")
        other.post("bob", "elsewhere")
        second, created = room.post("alice", "two")
        self.assertTrue(created)
        self.assertEqual((first.previous_id, second.previous_id), (None, first.pk))

    def test_post_with_a_used_client_id_returns_the_saved_message(self):
        room = Room.objects.create(label="lobby")
        first, created = room.post("alice", "hi", client_id="abc")
        again, created_again = room.post("alice", "hi (edited?)", client_id="abc")
        self.assertEqual((created, created_again), (True, False))
        self.assertEqual((again.pk, again.message, again.previous_id), (first.pk, "hi", None))
        self.assertEqual(again.as_dict(), first.as_dict())
        self.assertEqual(room.messages.count(), 1)

    def test_previous_ids_read_back_skip_deleted_messages(self):
        room = Room.objects.create(label="lobby")
        one, two, three = (room.post("h", text)[0] for text in ["1", "2", "3"])
        two.delete()
        self.assertEqual([(m.pk, m.previous_id) for m in room.messages_after(0, 10)],
                         [(one.pk, None), (three.pk, one.pk)])
        self.assertEqual(room.latest_messages(1)[0].previous_id, one.pk)
        self.assertEqual(Message.objects.get(pk=three.pk).as_dict()["previous_id"], one.pk)

    def test_group_names_are_valid_channel_layer_names(self):
        room = Room.objects.create(label="ünïcødé-" + "x" * 42)
        self.assertRegex(room.websocket_group.name, r"^[A-Za-z0-9._-]{1,99}$")
        self.assertNotEqual(room.websocket_group.name, Room.objects.create(label="b").websocket_group.name)

    def test_messages_after_is_ascending_and_limited(self):
        room = Room.objects.create(label="lobby")
        made = [room.messages.create(handle="h", message=str(n)) for n in range(5)]
        self.assertEqual(list(room.messages_after(made[0].pk, 2)), made[1:3])

    def test_plain_reads_give_what_the_orm_gives(self):
        """Room.objects.find and the message pages are plain SELECTs
        (chat.models.PlainSelect): the same instances, aware datetimes and
        wire shapes as the ORM's own reads."""
        room = Room.objects.create(label="café", access=Room.MEMBERS)
        room.post("alice", "one", client_id="c1")
        room.post("bob", "two")
        for found in (Room.objects.find(pk=room.pk), Room.objects.find(label="café")):
            expected = Room.objects.get(pk=room.pk)
            self.assertEqual([getattr(found, f.attname) for f in Room._meta.concrete_fields],
                             [getattr(expected, f.attname) for f in Room._meta.concrete_fields])
            self.assertIsNotNone(found.created.tzinfo)
            self.assertFalse(found._state.adding)
        self.assertIsNone(Room.objects.find(label="nowhere"))
        self.assertIsNone(Room.objects.find(pk=room.pk + 1000))
        by_orm = [m.as_dict() for m in Message.objects.with_previous_id().filter(room=room).order_by("pk")]
        self.assertEqual([m.as_dict() for m in room.messages_after(0, 10)], by_orm)
        self.assertEqual([m.as_dict() for m in room.latest_messages(10)], by_orm)
        self.assertEqual([m.as_dict() for m in room.messages_before(by_orm[1]["id"] + 1, 0, 1)], by_orm[1:])
        self.assertEqual(room.messages_after(0, 10)[1].room, room)
        self.assertIsNone(Announcement.objects.latest_active())
        Announcement.objects.create(text="old")
        Announcement.objects.create(text="newest, inactive", active=False)
        Announcement.objects.create(text="new")
        expected = Announcement.objects.filter(active=True).order_by("-created", "-pk").first()
        self.assertEqual(Announcement.objects.latest_active().as_dict(), expected.as_dict())

    def test_random_labels_are_valid_and_distinct(self):
        labels = {random_label() for _ in range(200)}
        self.assertEqual(len(labels), 200)
        self.assertTrue(all(is_valid_label(label) for label in labels))

    def test_label_rules(self):
        self.assertTrue(is_valid_label("a"))
        self.assertTrue(is_valid_label("x" * 50))
        self.assertFalse(is_valid_label("x" * 51))
        self.assertFalse(is_valid_label(""))
        self.assertFalse(is_valid_label("a/b"))
        self.assertFalse(is_valid_label("a\n"))
        self.assertTrue(re.match(r"^[-\w]+$", random_label()))


class RoomListTests(TestCase):
    def test_the_list_holds_rooms_with_messages_newest_first_and_no_empty_ones(self):
        quiet, busy, empty = (Room.objects.create(label=label) for label in ("quiet", "busy", "empty"))
        quiet.post("alice", "one")
        busy.post("bob", "two")
        self.assertEqual([room.label for room in Room.objects.by_latest_activity()], ["busy", "quiet"])
        quiet.post("alice", "three")
        self.assertEqual([room.label for room in Room.objects.by_latest_activity()], ["quiet", "busy"])
        self.assertEqual(Room.objects.get(label="quiet").last_message_at, Message.objects.last().timestamp)

    def test_the_list_is_one_indexed_query_however_many_messages(self):
        for number in range(5):
            Room.objects.create(label="room-%d" % number).post("alice", "hi")
        with self.assertNumQueries(1):
            rooms = list(Room.objects.by_latest_activity()[:3])
        self.assertEqual(len(rooms), 3)

    def test_unused_public_rooms_older_than_a_day_are_the_ones_to_remove(self):
        day_ago = timezone.now() - timedelta(days=1)
        old = dict(created=day_ago - timedelta(minutes=1))
        Room.objects.create(label="old-empty", **old)
        Room.objects.create(label="old-written", **old).post("alice", "kept")
        Room.objects.create(label="old-members", access=Room.MEMBERS, **old)
        occupied = Room.objects.create(label="old-occupied", **old)
        Presence.objects.create(room=occupied, reply_channel="daphne.response.x!1")
        Room.objects.create(label="new-empty")
        self.assertEqual([room.label for room in Room.objects.unused(since=day_ago)], ["old-empty"])
