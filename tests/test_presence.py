"""
runpresence's looks (chat.presence.Pusher), on the in-memory layer: a
room hears its presence when someone comes or goes, and its newest message
id once that stood still for a look; a look while nothing changed reads no
rows and sends nothing.
"""
import json

from channels import Group
from channels.test import ChannelTestCase

from chat.models import Presence, Room
from chat import presence
from chat.presence import Pusher


class PusherTests(ChannelTestCase):
    def setUp(self):
        self.room = Room.objects.create(label="lobby")
        self.pusher = Pusher()

    def join(self, reply_channel):
        Group(self.room.websocket_group.name).add(reply_channel)
        Presence.objects.create(room=self.room, reply_channel=reply_channel)

    def frames(self, reply_channel):
        received = []
        while True:
            message = self.get_next_message(reply_channel)
            if message is None:
                return received
            received.append(json.loads(message["text"]))

    def test_a_room_hears_who_came_and_who_left(self):
        self.join("websocket.send.1")
        self.pusher.look()
        self.assertEqual(self.frames("websocket.send.1"),
                         [{"type": "presence", "room": "lobby", "users": [], "guests": [], "anonymous": 1, "head": None}])
        self.join("websocket.send.2")
        self.pusher.look()
        self.assertEqual(self.frames("websocket.send.1")[-1]["anonymous"], 2)
        Presence.objects.filter(reply_channel="websocket.send.2").delete()
        self.pusher.look()
        self.assertEqual(self.frames("websocket.send.1")[-1]["anonymous"], 1)

    def test_a_look_while_nobody_came_or_went_reads_no_rows_and_sends_nothing(self):
        self.join("websocket.send.1")
        self.pusher.look()
        self.frames("websocket.send.1")
        with self.assertNumQueries(2):  # the rows' count and newest id, the newest message id
            self.pusher.look()
        self.assertEqual(self.frames("websocket.send.1"), [])

    def test_one_leaving_and_another_coming_between_looks_is_seen(self):
        self.join("websocket.send.1")
        self.join("websocket.send.2")
        self.pusher.look()
        self.frames("websocket.send.1")
        Presence.objects.filter(reply_channel="websocket.send.2").delete()
        self.join("websocket.send.3")  # the same count: the newest id tells
        self.pusher.look()
        # The names and the count did not change: only the newcomer hears it.
        self.assertEqual(self.frames("websocket.send.1"), [])
        self.assertEqual(self.frames("websocket.send.3"),
                         [{"type": "presence", "room": "lobby", "users": [], "guests": [], "anonymous": 2, "head": None}])

    def test_a_guest_that_names_itself_is_listed_by_name_and_counted(self):
        self.join("websocket.send.1")
        self.join("websocket.send.2")
        self.pusher.look()
        self.frames("websocket.send.1")
        presence.spoke("websocket.send.2", "Ada")
        self.pusher.look()  # no row came or went: the change is seen all the same
        self.assertEqual(self.frames("websocket.send.1"),
                         [{"type": "presence", "room": "lobby", "users": [], "guests": ["Ada"], "anonymous": 2, "head": None}])

    def test_after_forget_everything_is_sent_again(self):
        self.join("websocket.send.1")
        self.pusher.look()
        self.frames("websocket.send.1")
        self.pusher.forget()
        self.pusher.look()
        self.assertEqual(len(self.frames("websocket.send.1")), 1)

    def test_a_new_head_is_sent_once_it_stood_still_for_a_look(self):
        self.join("websocket.send.1")
        self.pusher.look()
        self.frames("websocket.send.1")
        first = self.room.messages.create(handle="h", message="lost on its way")
        self.pusher.look()  # the head moved: wait, more may come
        self.assertEqual(self.frames("websocket.send.1"), [])
        self.pusher.look()  # it stood still: an idle room hears its head
        self.assertEqual(self.frames("websocket.send.1"),
                         [{"type": "presence", "room": "lobby", "users": [], "guests": [], "anonymous": 1,
                           "head": first.pk}])
        self.pusher.look()
        self.assertEqual(self.frames("websocket.send.1"), [])  # once

    def test_a_busy_rooms_head_waits_until_it_falls_quiet(self):
        self.join("websocket.send.1")
        self.pusher.look()
        self.frames("websocket.send.1")
        for text in ("one", "two", "three"):
            newest = self.room.messages.create(handle="h", message=text)
            self.pusher.look()
            self.assertEqual(self.frames("websocket.send.1"), [], text)
        self.pusher.look()
        self.assertEqual([f["head"] for f in self.frames("websocket.send.1")], [newest.pk])

    def test_a_newcomer_and_a_change_of_people_carry_the_head_at_once(self):
        newest = self.room.messages.create(handle="h", message="before anyone came")
        other = Room.objects.create(label="other")
        other.messages.create(handle="h", message="another room's newer message")
        self.join("websocket.send.1")
        self.pusher.look()
        self.assertEqual([f["head"] for f in self.frames("websocket.send.1")], [newest.pk])
        newer = self.room.messages.create(handle="h", message="and one more")
        self.join("websocket.send.2")  # the count changed: sent now, with the head as it is
        self.pusher.look()
        self.assertEqual([(f["anonymous"], f["head"]) for f in self.frames("websocket.send.1")], [(2, newer.pk)])
        self.pusher.look()
        self.assertEqual(self.frames("websocket.send.1"), [])
