"""HTTP pages and the message API, through Django's test client."""
import datetime
import re
from unittest import mock
from urllib.parse import urlencode

from django.db import IntegrityError

from django.test import TestCase
from django.utils import timezone

from chat.models import LABEL_ALPHABET, Message, Room


class IndexTests(TestCase):
    def test_rooms_are_listed_newest_message_first_and_empty_rooms_not_at_all(self):
        now = timezone.now()
        quiet = Room.objects.create(label="quiet", created=now - datetime.timedelta(days=3))
        busy = Room.objects.create(label="busy", created=now - datetime.timedelta(days=5))
        Room.objects.create(label="fresh", created=now - datetime.timedelta(days=1))
        busy.post("a", "m")
        quiet.post("a", "m")
        Room.objects.filter(pk=quiet.pk).update(last_message_at=now - datetime.timedelta(days=2))
        response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        labels = [room.label for room in response.context["rooms"]]
        # Anyone can make a room by visiting its URL: one nobody wrote in is not listed.
        self.assertEqual(labels, ["busy", "quiet"])
        html = response.content.decode()
        self.assertLess(html.index(">busy<"), html.index(">quiet<"))
        self.assertNotIn(">fresh<", html)

    def test_joining_by_name_goes_to_that_room(self):
        response = self.client.get("/?room=%20lobby%20")
        self.assertEqual((response.status_code, response["Location"]), (302, "/lobby/"))

    def test_a_name_that_cannot_be_a_room_is_explained_on_the_list(self):
        response = self.client.get("/?room=two%20words")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "cannot be a room name")
        self.assertFalse(Room.objects.exists())

    def test_index_rejects_post(self):
        self.assertEqual(self.client.post("/", "", content_type="application/x-www-form-urlencoded").status_code, 405)


class HeadTests(TestCase):
    """Load balancers, monitors and `curl -I` check pages with HEAD."""

    def test_pages_and_the_api_answer_head_like_get_without_a_body(self):
        Room.objects.create(label="lobby")
        for path in ["/", "/lobby/", "/api/rooms/lobby/messages/"]:
            get, head = self.client.get(path), self.client.head(path)
            self.assertEqual((head.status_code, head["Content-Type"]), (200, get["Content-Type"]), path)
            self.assertEqual(head.content, b"", path)

    def test_head_of_new_makes_no_room(self):
        self.assertEqual(self.client.head("/new/").status_code, 405)
        self.assertFalse(Room.objects.exists())


class NewRoomTests(TestCase):
    def test_new_creates_a_random_room_and_redirects_to_it(self):
        first = self.client.get("/new/")
        second = self.client.get("/new/")
        self.assertEqual(first.status_code, 302)
        self.assertNotEqual(first["Location"], second["Location"])
        label = first["Location"].strip("/")
        self.assertTrue(Room.objects.filter(label=label).exists())
        self.assertEqual(self.client.get(first["Location"]).status_code, 200)

    def test_new_room_names_can_be_read_aloud_and_typed_on_a_phone(self):
        labels = [self.client.get("/new/")["Location"].strip("/") for _ in range(20)]
        for label in labels:
            self.assertRegex(label, r"^[%s]{4}-[%s]{4}-[%s]{4}$" % ((LABEL_ALPHABET,) * 3))
        used = set("".join(labels))
        self.assertFalse(used & set("ilo01ILO"), "look-alike characters in %s" % labels)


class NewRoomFailureTests(TestCase):
    def test_new_gives_up_after_repeated_label_collisions(self):
        Room.objects.create(label="taken")
        with mock.patch("chat.views.random_label", return_value="taken"):
            with self.assertRaises(IntegrityError):
                self.client.get("/new/")
        self.assertEqual(Room.objects.count(), 1)


class RoomPageTests(TestCase):
    def test_first_visit_creates_the_room(self):
        response = self.client.get("/brand-new/")
        self.assertEqual(response.status_code, 200)
        self.assertTrue(Room.objects.filter(label="brand-new").exists())
        self.assertContains(response, "brand-new")

    def test_page_shows_the_last_50_messages_oldest_first(self):
        room = Room.objects.create(label="lobby")
        for n in range(60):
            room.messages.create(handle="h", message="message number %d" % n)
        response = self.client.get("/lobby/")
        shown = [m.message for m in response.context["messages"]]
        self.assertEqual(shown, ["message number %d" % n for n in range(10, 60)])
        self.assertNotContains(response, "message number 9<")
        self.assertEqual(response.context["last_id"], room.messages.order_by("pk").last().pk)

    def test_user_text_is_escaped_in_the_page(self):
        room = Room.objects.create(label="lobby")
        room.messages.create(handle="<i>mallory</i>", message="<script>alert(1)</script>")
        response = self.client.get("/lobby/")
        self.assertNotContains(response, "<script>alert(1)</script>")
        self.assertContains(response, "&lt;script&gt;alert(1)&lt;/script&gt;")
        self.assertContains(response, "&lt;i&gt;mallory&lt;/i&gt;")

    def test_history_carries_the_wire_shape_for_the_script(self):
        room = Room.objects.create(label="lobby")
        first = room.messages.create(handle="ann", message="  two\nlines ")
        second = room.messages.create(handle="bob", message="hi")
        html = self.client.get("/lobby/").content.decode()
        self.assertIn('data-id="%d" data-previous-id="" data-user="false" data-timestamp="%s"'
                      % (first.pk, first.as_dict()["timestamp"]), html)
        self.assertIn('data-id="%d" data-previous-id="%d"' % (second.pk, first.pk), html)
        # No white space of the template inside the text: it is shown as typed.
        self.assertIn('<p class="text">  two\nlines </p>', html)

    def test_invalid_labels_are_not_found(self):
        for path in ["/%s/" % ("x" * 51), "/a.b/", "/a%20b/", "/a+b/"]:
            self.assertEqual(self.client.get(path).status_code, 404, path)
        self.assertFalse(Room.objects.exists())

    def test_unicode_label_is_a_room(self):
        self.assertEqual(self.client.get("/caf%C3%A9/").status_code, 200)
        self.assertTrue(Room.objects.filter(label="café").exists())


class MessageApiTests(TestCase):
    def setUp(self):
        self.room = Room.objects.create(label="lobby")
        self.messages = [self.room.messages.create(handle="h", message=str(n)) for n in range(5)]

    def get(self, query="", label="lobby"):
        return self.client.get("/api/rooms/%s/messages/%s" % (label, query))

    def test_returns_messages_after_an_id_ascending(self):
        response = self.get("?after=%d" % self.messages[1].pk)
        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(body["room"], "lobby")
        self.assertEqual([m["message"] for m in body["messages"]], ["2", "3", "4"])
        self.assertEqual(body["messages"][0], self.messages[2].as_dict())

    def test_before_returns_the_latest_messages_before_an_id_ascending(self):
        body = self.get("?before=%d&limit=2" % self.messages[3].pk).json()
        self.assertEqual([m["message"] for m in body["messages"]], ["1", "2"])
        self.assertEqual(body["messages"][0], self.messages[1].as_dict())
        body = self.get("?before=%d" % self.messages[0].pk).json()
        self.assertEqual(body["messages"], [])
        self.assertEqual(self.get("?before=x").json()["code"], "invalid_parameter")

    def test_latest_returns_the_newest_messages_ascending(self):
        body = self.get("?latest=2").json()
        self.assertEqual([m["message"] for m in body["messages"]], ["3", "4"])
        self.assertEqual(body["messages"][-1], self.messages[4].as_dict())
        self.assertEqual(len(self.get("?latest=500").json()["messages"]), 5)
        # With after: the newest ones above it, never below.
        body = self.get("?latest=3&after=%d" % self.messages[3].pk).json()
        self.assertEqual([m["message"] for m in body["messages"]], ["4"])

    def test_latest_is_1_to_500_and_alone_with_after(self):
        for query in ["?latest=0", "?latest=501", "?latest=x", "?latest=2&limit=2",
                      "?latest=2&before=%d" % self.messages[3].pk]:
            response = self.get(query)
            self.assertEqual(response.status_code, 400, query)
            self.assertEqual(response.json()["code"], "invalid_parameter", query)
            self.assertIn("latest", response.json()["detail"], query)

    def test_limit_caps_the_page(self):
        body = self.get("?limit=2").json()
        self.assertEqual([m["message"] for m in body["messages"]], ["0", "1"])

    def test_default_limit_is_100_and_maximum_500(self):
        Message.objects.bulk_create(Message(room=self.room, handle="h", message="bulk") for _ in range(600))
        self.assertEqual(len(self.get().json()["messages"]), 100)
        self.assertEqual(len(self.get("?limit=500").json()["messages"]), 500)
        self.assertEqual(self.get("?limit=501").status_code, 400)

    def test_unknown_room_is_404(self):
        response = self.get(label="nowhere")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response.json()["code"], "room_not_found")
        self.assertFalse(Room.objects.filter(label="nowhere").exists())

    def test_bad_parameters_are_400(self):
        for query in ["?after=x", "?after=-1", "?limit=0", "?limit=abc", "?after=1.5", "?after=+3", "?after=%20 3",
                      "?after=99999999999999999999", "?limit=99999999999999999999",
                      "?after=" + "9" * 5000, "?limit=" + "9" * 5000, "?before=-1", "?before=99999999999999999999"]:
            response = self.get(query)
            self.assertEqual(response.status_code, 400, query)
            self.assertEqual(response.json()["code"], "invalid_parameter", query)


class SignUpTests(TestCase):
    PASSWORD = "a long enough passphrase 42"

    def sign_up(self, next_url, username="ann"):
        form = {"username": username, "password1": self.PASSWORD, "password2": self.PASSWORD, "next": next_url}
        # As a browser sends the form (the workers take no multipart bodies).
        return self.client.post("/accounts/signup/", urlencode(form), content_type="application/x-www-form-urlencoded")

    def account_links(self, path):
        html = self.client.get(path).content.decode()
        return re.findall(r'<a href="(/accounts/(?:login|signup)/[^"]*)">Sign (?:in|up)</a>', html)

    def test_sign_up_returns_to_the_room_it_started_from(self):
        room_links = self.account_links("/lobby/")
        self.assertEqual(room_links, ["/accounts/login/?next=/lobby/", "/accounts/signup/?next=/lobby/"])
        response = self.sign_up("/lobby/")
        self.assertEqual((response.status_code, response["Location"]), (302, "/lobby/"))

    def test_the_way_back_is_kept_from_sign_in_to_sign_up_and_back(self):
        # Every sign-in and sign-up link on those pages, the header's too.
        expected_signup = "/accounts/signup/?next=/lobby/"
        self.assertIn(expected_signup, self.account_links("/accounts/login/?next=/lobby/"))
        self.assertIn("/accounts/login/?next=/lobby/", self.account_links("/accounts/signup/?next=/lobby/"))
        self.assertNotIn("next=/accounts/", " ".join(self.account_links("/accounts/login/")))

    def test_sign_up_never_sends_the_browser_to_another_site(self):
        for number, unsafe in enumerate(["https://evil.example.com/", "//evil.example.com/", "javascript:alert(1)"]):
            self.client.logout()
            response = self.sign_up(unsafe, username="ann%d" % number)
            self.assertEqual((response.status_code, response["Location"]), (302, "/"), unsafe)
