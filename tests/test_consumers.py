"""
The WebSocket consumers, driven through channels' own test tools
(channels.test): the real routing, channel_session and enforce_ordering,
on the in-memory layer.
"""
import json
import threading
import time
from unittest import mock

from channels import Channel
from channels.sessions import enforce_ordering, session_for_reply_channel
from channels.test import ChannelTestCase, Client, WSClient, apply_routes
from channels.routing import route
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import OperationalError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Message, Room
from chat.background import BACKGROUND_CHANNEL
from redis_layer.layer import QUEUED_AT_KEY, RETRY_AFTER_KEY


def reply_of(client):
    """The next reply-channel message of a WSClient, whole (its receive()
    returns only the text of one that has text)."""
    return Client.receive(client)


def insert_fails():
    """The message's INSERT fails inside Room.post's transaction, as a
    database that broke would fail it."""
    return mock.patch.object(Room, "INSERT_SQL", Room.INSERT_SQL.replace("chat_message", "chat_message_broken"))


def room_path(label, query=""):
    return "/chat/%s/%s" % (label, query)


class ConsumerTestCase(ChannelTestCase):
    def setUp(self):
        self.room = Room.objects.create(label="lobby")

    def connect(self, label="lobby", query=""):
        client = WSClient(ordered=True)
        client.path = room_path(label, query)
        client.send_and_consume("websocket.connect", path=client.path)
        return client

    def say(self, client, handle="alice", message="hello", text=None, **extra):
        """Send a frame, and run what it handed to the background channel."""
        frame = text if text is not None else json.dumps(dict(extra, handle=handle, message=message))
        client.send_and_consume("websocket.receive", {"text": frame}, path=client.path)
        self.run_jobs(client)

    def run_jobs(self, client=None):
        """Run every job waiting on the background channel, through the routing."""
        while True:
            job = self.get_next_message(BACKGROUND_CHANNEL)
            if job is None:
                return
            consumer, kwargs = job.channel_layer.router.match(job)
            consumer(job, **kwargs)

    def assert_rejected(self, code, **frame):
        alice, bob = self.connect(), self.connect()
        self.say(alice, **frame)
        [error] = self.frames(alice)
        self.assertEqual(error["type"], "error")
        self.assertEqual(error["code"], code)
        self.assertTrue(error["detail"])
        self.assertEqual(self.frames(bob), [])
        self.assertFalse(Message.objects.exists())
        # The socket stays usable.
        self.say(alice, message="after the error")
        self.assertEqual([f["message"] for f in self.frames(alice)], ["after the error"])
        self.assertEqual([f["message"] for f in self.frames(bob)], ["after the error"])

    def frames(self, client):
        """Every frame waiting on the client's reply channel, decoded, once
        the background channel's jobs have run."""
        self.run_jobs()
        received = []
        while True:
            content = client.receive()
            if content is None:
                return received
            received.append(content)


class ConnectTests(ConsumerTestCase):
    def test_socket_to_existing_room_is_accepted(self):
        client = self.connect()  # consume() asserts {"accept": True}
        self.assertEqual(self.frames(client), [])

    def assert_refused_for_good(self, client, code, close_code):
        """Accepted only to hear why, then closed with the code's close code
        (docs/protocol.md, Handshake): nothing else reaches the socket."""
        self.assertEqual(client.receive(json=False), {"accept": True})
        reply = reply_of(client)
        self.assertEqual(reply["close"], close_code)
        self.assertEqual(json.loads(reply["text"])["code"], code)
        self.assertIsNone(client.receive(json=False))

    def test_socket_to_unknown_room_is_refused_for_good(self):
        client = WSClient(ordered=True)
        client.send_and_consume("websocket.connect", path=room_path("nowhere"), check_accept=False)
        self.assert_refused_for_good(client, "room_not_found", 4404)
        self.assertFalse(self.room.websocket_group.channel_layer.group_channels(self.room.websocket_group.name))

    @override_settings(ALLOWED_HOSTS=["chat.example"])
    def test_a_page_of_another_site_is_refused_and_leaves_no_session(self):
        for origin, accepted in [("https://evil.example", False), ("https://chat.example", True),
                                 ("null", False), (None, True)]:
            client = WSClient(ordered=True)
            if origin is not None:
                client.set_header("origin", origin.encode())
            client.send_and_consume("websocket.connect", path=room_path("lobby"), check_accept=False)
            if accepted:
                self.assertEqual(client.receive(json=False), {"accept": True}, origin)
                self.assertIsNone(client.receive(json=False))
            else:
                self.assert_refused_for_good(client, "origin_not_allowed", 4406)
            client.send_and_consume("websocket.disconnect", path=room_path("lobby"))
        self.assertFalse(Session.objects.exists())

    def test_an_accept_that_finds_the_reply_list_full_waits_then_joins_nothing(self):
        """In overload (a reconnect storm) Daphne's reply list can stay
        full: the worker waits chat.wire.PATIENCE for room, then leaves the
        handshake to fail at Daphne's connect timeout; the socket is in no
        Group and has no room, presence or anything else sent."""
        from chat.models import Presence
        client = WSClient(ordered=True)
        layer = self.room.websocket_group.channel_layer
        filler = 0
        while True:  # fill the socket's reply channel, as a storm fills Daphne's
            try:
                Channel(client.reply_channel).send({"text": json.dumps({"type": "filler"})}, immediately=True)
                filler += 1
            except layer.ChannelFull:
                break
        began = time.monotonic()
        with mock.patch("chat.wire.PATIENCE", 0.3), self.assertLogs("chat.wire", "WARNING"):
            client.send_and_consume("websocket.connect", path=room_path("lobby"), check_accept=False)
        self.assertGreaterEqual(time.monotonic() - began, 0.3)
        self.assertFalse(layer.group_channels(self.room.websocket_group.name))
        self.assertFalse(Presence.objects.exists())
        self.assertEqual([client.receive() for _ in range(filler)], [{"type": "filler"}] * filler)
        self.assertIsNone(client.receive(json=False))

    def test_a_handshake_queued_past_daphnes_wait_is_dropped_unanswered(self):
        """Its client is gone (Daphne dropped the connection unanswered): no
        accept, no Group, no session, no presence row; a fresh one is served."""
        from chat.models import Presence
        stale = WSClient(ordered=True)
        stale.send_and_consume("websocket.connect", {QUEUED_AT_KEY: time.time() - 6}, path=room_path("lobby"),
                               check_accept=False)
        self.assertIsNone(stale.receive(json=False))
        self.assertFalse(self.room.websocket_group.channel_layer.group_channels(self.room.websocket_group.name))
        self.assertFalse(Session.objects.exists())
        self.assertFalse(Presence.objects.exists())
        stale.send_and_consume("websocket.disconnect", {"code": 1006}, path=room_path("lobby"))
        self.assertFalse(Session.objects.exists())
        fresh = WSClient(ordered=True)
        fresh.send_and_consume("websocket.connect", {QUEUED_AT_KEY: time.time() - 1}, path=room_path("lobby"))
        self.assertEqual(Presence.objects.count(), 1)

    def test_socket_to_unrouted_path_is_rejected(self):
        for path in ["/elsewhere/", "/chat/lobby/extra/", "/chat/", "/chat/%s/" % ("x" * 51)]:
            client = WSClient(ordered=True)
            client.send_and_consume("websocket.connect", path=path, check_accept=False)
            self.assertEqual(client.receive(json=False), {"close": True}, path)

    def test_room_with_unicode_label_gets_an_ascii_group(self):
        room = Room.objects.create(label="café-über")
        client = self.connect(label="café-über")
        self.say(client, message="bonjour")
        [frame] = self.frames(client)
        self.assertEqual(frame["room"], "café-über")
        self.assertRegex(room.websocket_group.name, r"^[A-Za-z0-9._-]{1,99}$")


class ReceiveTests(ConsumerTestCase):
    def test_message_is_saved_and_broadcast_to_every_socket_in_the_room(self):
        alice, bob = self.connect(), self.connect()
        Room.objects.create(label="other")
        outsider = self.connect(label="other")
        self.say(alice, handle="  alice ", message=" hi <b>bob</b> ")
        saved = Message.objects.get()
        self.assertEqual((saved.handle, saved.message, saved.room), ("alice", "hi <b>bob</b>", self.room))
        expected = {
            "type": "message", "id": saved.pk, "previous_id": None, "room": "lobby", "handle": "alice", "user": False,
            "message": "hi <b>bob</b>", "timestamp": saved.timestamp.isoformat(),
        }
        self.assertEqual(self.frames(alice), [expected])
        self.assertEqual(self.frames(bob), [expected])
        self.assertEqual(self.frames(outsider), [])
        self.assertTrue(expected["timestamp"].endswith("+00:00"))

    def test_invalid_json_is_refused(self):
        self.assert_rejected("invalid_json", text="{not json")

    def test_json_nested_too_deeply_gets_its_error_frame(self):
        # Found by the fuzz run: answering it parsed the frame again for its
        # client_id, hit RecursionError, and sent nothing at all.
        self.assert_rejected("invalid_json", text="[" * 6749)

    def test_an_unpaired_surrogate_is_refused_not_an_internal_error(self):
        # Found by the fuzz run: saving it failed in the database encoder.
        self.assert_rejected("invalid_message", text='{"handle": "e", "message": "hi \\udc00x"}')

    def test_an_after_of_thousands_of_digits_is_invalid_after_and_the_socket_stays(self):
        client = self.connect(query="?after=" + "9" * 5000)
        [error] = self.frames(client)
        self.assertEqual(error["code"], "invalid_after")
        self.say(client, message="still in")
        self.assertEqual([f["message"] for f in self.frames(client)], ["still in"])

    def test_frame_that_is_not_an_object_is_refused(self):
        self.assert_rejected("invalid_message", text="[1, 2]")

    def test_missing_and_extra_keys_are_refused(self):
        self.assert_rejected("invalid_message", text=json.dumps({"handle": "a"}))
        Room.objects.all().delete()
        self.room = Room.objects.create(label="lobby")
        self.assert_rejected("invalid_message", text=json.dumps({"handle": "a", "message": "b", "x": 1}))

    def test_empty_message_after_trimming_is_refused(self):
        self.assert_rejected("invalid_message", message="   \n ")

    def test_too_long_message_is_refused(self):
        self.assert_rejected("message_too_long", message="x" * 2001)

    def test_message_of_exactly_the_limit_is_accepted(self):
        alice = self.connect()
        self.say(alice, message="y" * 2000)
        self.assertEqual(len(self.frames(alice)[0]["message"]), 2000)

    def test_binary_frame_is_refused(self):
        alice, bob = self.connect(), self.connect()
        alice.send_and_consume("websocket.receive", {"bytes": b"\x00\x01"}, path=alice.path)
        [error] = self.frames(alice)
        self.assertEqual(error["code"], "binary_not_supported")
        self.assertEqual(self.frames(bob), [])

    def test_message_for_a_deleted_room_is_refused_not_crashed(self):
        alice = self.connect()
        self.room.delete()
        self.say(alice, message="anyone?")
        [error] = self.frames(alice)
        self.assertEqual(error["code"], "room_gone")
        self.assertFalse(Message.objects.exists())


class OrderingTests(ConsumerTestCase):
    def test_frames_arriving_out_of_order_are_handled_in_sent_order(self):
        alice = self.connect()  # order 0
        bob = self.connect()
        first = alice._get_content({"text": json.dumps({"handle": "a", "message": "first"})}, path=alice.path)
        second = alice._get_content({"text": json.dumps({"handle": "a", "message": "second"})}, path=alice.path)
        # The layer delivers the second frame before the first.
        Channel("websocket.receive").send(second)
        Channel("websocket.receive").send(first)
        alice.consume("websocket.receive")  # second: parked on the wait channel
        self.assertFalse(Message.objects.exists())
        alice.consume("websocket.receive")  # first: handled, and second is requeued
        alice.consume("websocket.receive")  # second: handled
        self.assertEqual([f["message"] for f in self.frames(bob)], ["first", "second"])

    def test_each_message_names_the_one_before_it_in_its_room(self):
        alice = self.connect()
        Room.objects.create(label="other")
        elsewhere = self.connect(label="other")
        self.say(alice, message="one")
        self.say(elsewhere, message="not in lobby")
        self.say(alice, message="two")
        one, two = self.frames(alice)
        self.assertEqual((one["previous_id"], two["previous_id"]), (None, one["id"]))
        self.assertEqual(self.frames(elsewhere)[0]["previous_id"], None)

    def test_client_id_is_echoed_and_a_resend_is_not_saved_twice(self):
        alice, bob = self.connect(), self.connect()
        self.say(alice, message="once", client_id="c-1")
        [first] = self.frames(alice)
        self.assertEqual(first["client_id"], "c-1")
        self.say(alice, message="once", client_id="c-1")
        # The resend is answered (to the whole room: the first broadcast may be
        # what was lost) with the message saved the first time.
        self.assertEqual(self.frames(alice), [first])
        self.assertEqual(self.frames(bob), [first, first])
        self.assertEqual(Message.objects.count(), 1)

    def test_the_same_client_id_under_another_handle_is_another_message(self):
        alice = self.connect()
        self.say(alice, handle="alice", message="a", client_id="same")
        self.say(alice, handle="bob", message="b", client_id="same")
        self.assertEqual([f["handle"] for f in self.frames(alice)], ["alice", "bob"])
        self.assertEqual(Message.objects.count(), 2)

    def test_malformed_client_id_is_refused(self):
        for client_id in ["", "x" * 65, "a b", 7]:
            self.assert_rejected("invalid_message", handle="alice", message="m", client_id=client_id)
            Message.objects.all().delete()

    def test_an_error_names_the_client_id_of_the_frame_it_answers(self):
        alice = self.connect()
        self.say(alice, message="x" * 2001, client_id="too-long-1")
        self.say(alice, text='{"handle": "a", "message": "m", "client_id": "bad id"}')
        long_error, malformed_error = self.frames(alice)
        self.assertEqual((long_error["code"], long_error["client_id"]), ("message_too_long", "too-long-1"))
        self.assertNotIn("client_id", malformed_error)

    def test_internal_error_says_the_message_was_not_saved(self):
        alice = self.connect()
        with insert_fails():
            with self.assertLogs("chat.errors", "ERROR"):
                self.say(alice, message="lost")
        [error] = self.frames(alice)
        self.assertEqual((error["code"], error["saved"]), ("internal_error", False))
        self.assertFalse(Message.objects.exists())
        self.room.refresh_from_db()
        self.assertIsNone(self.room.last_message_at)  # the room's lock was rolled back with it

    def test_internal_error_after_saving_says_so_and_names_the_id(self):
        alice = self.connect()
        with mock.patch("channels.Group.send", side_effect=RuntimeError("layer exploded")):
            with self.assertLogs("chat.errors", "ERROR"):
                self.say(alice, message="kept")
        [error] = self.frames(alice)
        saved = Message.objects.get()
        self.assertEqual((error["code"], error["saved"], error["id"]), ("internal_error", True, saved.pk))

    def test_a_frame_daphne_marked_over_budget_gets_rate_limited_and_is_not_saved(self):
        alice, bob = self.connect(), self.connect()
        frame = {"text": json.dumps({"handle": "a", "message": "too fast", "client_id": "fast-1"}),
                 RETRY_AFTER_KEY: 1.5}
        alice.send_and_consume("websocket.receive", frame, path=alice.path)
        [error] = self.frames(alice)
        self.assertEqual((error["code"], error["retry_after"], error["client_id"]), ("rate_limited", 1.5, "fast-1"))
        self.assertEqual(self.frames(bob), [])
        self.assertFalse(Message.objects.exists())
        self.say(alice, message="later")
        self.assertEqual([f["message"] for f in self.frames(bob)], ["later"])

    def test_a_session_failure_closes_the_socket_instead_of_stalling_it(self):
        alice, bob = self.connect(), self.connect()
        with mock.patch("chat.sessions.SessionStore.load", side_effect=OperationalError("database is down")):
            with self.assertLogs("chat.errors", "ERROR"):
                self.say(alice, message="while the database is down", client_id="c-9")
        error = super(WSClient, alice).receive()  # the raw reply: text and close together
        self.assertEqual(json.loads(error["text"])["code"], "internal_error")
        self.assertEqual(json.loads(error["text"])["client_id"], "c-9")
        self.assertTrue(error["close"])
        self.assertFalse(Message.objects.exists())
        self.say(bob, message="bob is fine")
        self.assertEqual([f["message"] for f in self.frames(bob)], ["bob is fine"])

    def test_consumer_crash_does_not_stall_the_sockets_later_messages(self):
        alice, bob = self.connect(), self.connect()
        with insert_fails():
            with self.assertLogs("chat.errors", "ERROR"):
                self.say(alice, message="lost")
        [error] = self.frames(alice)
        self.assertEqual(error["code"], "internal_error")
        self.say(alice, message="next")
        self.assertEqual([f["message"] for f in self.frames(alice)], ["next"])
        self.assertEqual([f["message"] for f in self.frames(bob)], ["next"])

    def test_without_the_error_boundary_channels_parks_every_later_message(self):
        """Why chat.errors.reply_errors exists: the stock 1.1.8 behaviour."""
        calls = []

        @enforce_ordering
        def fragile(message):
            calls.append(message["order"])
            if message["order"] == 1:
                raise RuntimeError("boom")

        with apply_routes([route("websocket.connect", fragile), route("websocket.receive", fragile)]):
            client = WSClient(ordered=True)
            client.send_and_consume("websocket.connect", check_accept=False)
            client.send("websocket.receive", {"text": "one"})
            with self.assertRaises(RuntimeError):
                client.consume("websocket.receive")
            client.send_and_consume("websocket.receive", {"text": "two"})
        self.assertEqual(calls, [0, 1])  # "two" never ran: it waits for an order that never comes


class ReceiveFailureTests(ConsumerTestCase):
    """What the sender hears when its frame cannot be saved or sent; the
    room hears nothing of it."""

    def send_frame(self, client, **frame):
        client.send_and_consume("websocket.receive", {"text": json.dumps(frame)}, path=client.path)

    def test_a_failed_save_answers_its_sender_only_naming_the_frame(self):
        alice, bob = self.connect(), self.connect()
        with insert_fails():
            with self.assertLogs("chat.errors", "ERROR"):
                self.say(alice, message="lost", client_id="c-7")
        [error] = self.frames(alice)
        self.assertEqual((error["code"], error["saved"], error["client_id"]), ("internal_error", False, "c-7"))
        self.assertEqual(self.frames(bob), [])
        self.say(alice, message="next")
        self.assertEqual([f["message"] for f in self.frames(bob)], ["next"])

    def test_a_saved_message_whose_broadcast_failed_says_it_was_saved(self):
        alice = self.connect()
        with mock.patch("channels.Group.send", side_effect=RuntimeError("layer down")):
            with self.assertLogs("chat.errors", "ERROR"):
                self.send_frame(alice, handle="alice", message="kept", client_id="c-6")
        [error] = self.frames(alice)
        saved = Message.objects.get()
        self.assertEqual((error["code"], error["saved"], error["id"], error["client_id"]),
                         ("internal_error", True, saved.pk, "c-6"))

    def test_a_frame_for_a_room_deleted_meanwhile_answers_room_gone(self):
        alice = self.connect()
        self.room.delete()
        self.send_frame(alice, handle="alice", message="too late", client_id="c-8")
        [error] = self.frames(alice)
        self.assertEqual((error["code"], error["client_id"]), ("room_gone", "c-8"))
        self.assertFalse(Message.objects.exists())

    def test_a_room_closed_to_anonymous_users_after_joining_refuses_their_frames(self):
        alice = self.connect()
        Room.objects.filter(pk=self.room.pk).update(access=Room.MEMBERS)
        self.send_frame(alice, handle="alice", message="still here?", client_id="c-9")
        [error] = self.frames(alice)
        self.assertEqual((error["code"], error["client_id"]), ("forbidden", "c-9"))
        self.assertIsNone(self.get_next_message(BACKGROUND_CHANNEL))
        self.assertFalse(Message.objects.exists())

    def test_an_anonymous_message_naming_someone_queues_no_background_work(self):
        alice = self.connect()
        self.send_frame(alice, handle="alice", message="hi @bob")
        self.assertEqual(Message.objects.get().message, "hi @bob")
        self.assertIsNone(self.get_next_message(BACKGROUND_CHANNEL))


class DisconnectTests(ConsumerTestCase):
    def test_a_closed_socket_leaves_no_session_behind(self):
        alice = self.connect()
        self.say(alice, message="hi")
        self.assertEqual(Session.objects.count(), 1)
        session = Session.objects.get()
        age = session.expire_date - timezone.now()
        self.assertAlmostEqual(age.total_seconds(), settings.CHANNEL_SESSION_MAX_AGE, delta=60)
        alice.send_and_consume("websocket.disconnect", {"code": 1000}, path=alice.path)
        self.assertFalse(Session.objects.exists())

    def test_a_refused_socket_leaves_no_session_behind(self):
        client = WSClient(ordered=True)
        client.send_and_consume("websocket.connect", path=room_path("nowhere"), check_accept=False)
        self.assertEqual(client.receive(json=False), {"accept": True})
        self.assertEqual(reply_of(client)["close"], 4404)
        client.send_and_consume("websocket.disconnect", {"code": 4404}, path=room_path("nowhere"))
        self.assertFalse(Session.objects.exists())

    def test_a_disconnect_after_the_pruner_ended_the_socket_leaves_nothing(self):
        # Found by the soak: the pruner deletes the session of a socket gone
        # from its Daphne's list while its disconnect still waits in Redis;
        # the late disconnect created an empty session and parked for good.
        alice = self.connect()
        session_for_reply_channel(alice.reply_channel).delete()
        alice.send_and_consume("websocket.disconnect", {"code": 1000}, path=alice.path)
        self.assertFalse(Session.objects.exists())

    def test_a_disconnect_that_overtakes_a_frame_keeps_the_session_until_the_frame_ran(self):
        alice, bob = self.connect(), self.connect()
        alice.send("websocket.receive", {"text": json.dumps({"handle": "a", "message": "last words"})},
                   path=alice.path)
        alice.send("websocket.disconnect", {"code": 1000}, path=alice.path)
        alice.consume("websocket.disconnect")  # parked: the frame before it has not run
        self.assertEqual(Session.objects.count(), 2)
        alice.consume("websocket.receive")     # runs, and puts the disconnect back
        alice.consume("websocket.disconnect")
        self.assertEqual([f["message"] for f in self.frames(bob)], ["last words"])
        self.assertEqual(Session.objects.count(), 1)  # bob's


    def test_disconnected_socket_leaves_the_room_group(self):
        alice, bob = self.connect(), self.connect()
        bob.send_and_consume("websocket.disconnect", {"code": 1000}, path=bob.path)
        self.say(alice, message="still there?")
        self.assertEqual(len(self.frames(alice)), 1)
        self.assertEqual(self.frames(bob), [])


class CatchupTests(ConsumerTestCase):
    def post(self, *texts):
        return [self.room.messages.create(handle="h", message=t) for t in texts]

    def caught_up(self, last_id):
        return {"type": "caught_up", "room": "lobby", "last_id": last_id}

    def test_reconnecting_socket_receives_what_it_missed_in_order_then_the_end(self):
        first, second, third = self.post("one", "two", "three")
        client = self.connect(query="?after=%d" % first.pk)
        *missed, end = self.frames(client)
        self.assertEqual([(f["id"], f["previous_id"], f["message"]) for f in missed],
                         [(second.pk, first.pk, "two"), (third.pk, second.pk, "three")])
        self.assertEqual(end, self.caught_up(third.pk))

    def test_a_catchup_with_nothing_missed_still_ends_and_names_the_after_id(self):
        [one] = self.post("one")
        client = self.connect(query="?after=%d" % one.pk)
        self.assertEqual(self.frames(client), [self.caught_up(one.pk)])

    def test_catchup_is_followed_by_live_messages(self):
        self.post("old")
        client = self.connect(query="?after=0")
        self.say(client, message="live")
        frames = self.frames(client)
        self.assertEqual([f.get("message", f["type"]) for f in frames], ["old", "caught_up", "live"])

    def test_no_after_means_no_catchup(self):
        self.post("old")
        client = self.connect()
        self.assertEqual(self.frames(client), [])

    def test_invalid_after_gets_an_error_and_the_socket_still_works(self):
        for after in ["yesterday", "99999999999999999999"]:
            client = self.connect(query="?after=" + after)
            [error] = self.frames(client)
            self.assertEqual(error["code"], "invalid_after")
            self.say(client, message="hi")
            self.assertEqual([f["message"] for f in self.frames(client)], ["hi"])

    @override_settings(CHAT_CATCHUP_LIMIT=0)
    def test_catchup_limit_zero_sends_everything_to_the_http_api(self):
        self.post("1")
        client = self.connect(query="?after=0")
        [truncated] = self.frames(client)
        self.assertEqual((truncated["code"], truncated["after"]), ("catchup_truncated", 0))
        self.assertIn("after=0", truncated["detail"])

    @override_settings(CHAT_CATCHUP_LIMIT=2)
    def test_long_catchup_is_cut_and_says_where_to_continue(self):
        one, two, three = self.post("1", "2", "3")
        client = self.connect(query="?after=0")
        frames = self.frames(client)
        self.assertEqual(len(frames), 3)
        self.assertEqual([f.get("id") for f in frames[:2]], [one.pk, two.pk])
        self.assertEqual((frames[2]["code"], frames[2]["after"]), ("catchup_truncated", two.pk))
        self.assertIn("after=%d" % two.pk, frames[2]["detail"])

    # On Redis a catch-up leaves a fifth of the reply list free (tests/test_catchup.py);
    # these are the in-memory layer's (runserver's), which fills it.
    def connect_to_full_list(self, room_left):
        """A socket connecting with ?after=0 while its Daphne's reply list
        (in-memory) has `room_left` free places."""
        client = WSClient(ordered=True)
        client.path = room_path("lobby", "?after=0")
        layer = client.channel_layer
        for _ in range(layer.get_capacity(client.reply_channel) - room_left):
            layer.send(client.reply_channel, {"text": json.dumps({"type": "filler"})})
        return client

    def connect_now(self, client):
        client.send("websocket.connect", path=client.path)
        client.consume("websocket.connect", check_accept=False)  # the fillers come first

    def without_fillers(self, frames):
        """The frames after the fillers, the accept first."""
        frames = [f for f in frames if f.get("type") != "filler"]
        self.assertEqual(frames[0], {"accept": True})
        return frames[1:]

    @override_settings(CHAT_CATCHUP_LIMIT=3)
    def test_a_reply_list_that_stays_full_gets_no_end_frame_and_the_worker_moves_on(self):
        """The client then hears nothing more on this socket: docs/protocol.md
        tells it to reconnect when no end frame came within 5 s."""
        self.post("1", "2", "3")
        client = self.connect_to_full_list(room_left=2)  # the accept and one catch-up frame
        started = time.monotonic()
        with self.assertLogs("chat.wire", "WARNING") as logs:
            self.connect_now(client)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("end frame not sent", logs.output[-1])
        frames = self.without_fillers(self.frames(client))
        self.assertEqual([f["message"] for f in frames], ["1"])

    @override_settings(CHAT_CATCHUP_LIMIT=3)
    def test_the_end_frame_waits_for_daphne_to_make_room(self):
        one, two, three = self.post("1", "2", "3")
        client = self.connect_to_full_list(room_left=2)
        drained = []
        reader = threading.Timer(0.3, lambda: drained.append(client.receive()))
        reader.start()
        try:
            with self.assertLogs("chat.catchup", "WARNING"):
                self.connect_now(client)
        finally:
            reader.join()
        frames = self.without_fillers(self.frames(client))
        self.assertEqual(drained, [{"type": "filler"}])
        self.assertEqual(frames[0]["id"], one.pk)
        self.assertEqual((frames[-1]["code"], frames[-1]["after"]), ("catchup_truncated", one.pk))


class GuestNameTests(ConsumerTestCase):
    def test_a_guest_is_named_in_presence_by_its_messages_once_per_name(self):
        from chat.models import Presence
        alice = self.connect()
        self.assertEqual(Presence.objects.get().handle, "")
        self.say(alice, handle="Ada", message="hello")
        self.assertEqual(Presence.objects.get().handle, "Ada")
        with CaptureQueriesContext(connection) as queries:
            alice.send_and_consume("websocket.receive", {"text": json.dumps({"handle": "Ada", "message": "again"})},
                                   path=alice.path)
        self.assertEqual([q["sql"] for q in queries.captured_queries if "chat_presence" in q["sql"]], [])
        self.say(alice, handle="Ada L.", message="renamed")
        self.assertEqual(Presence.objects.get().handle, "Ada L.")
