"""
The workers' HTTP guards (chat/http_guards.py), through Django's test
client: a multipart body is refused before the CSRF middleware parses it,
/admin/ answers only from its networks and never takes the parameters
that shape SQL, and every response carries the security headers.
"""
from django.contrib.auth.models import User
from django.test import TestCase, override_settings
from django.test.client import encode_multipart

from chat.http_guards import CONTENT_SECURITY_POLICY


class MultipartTests(TestCase):
    def test_a_multipart_body_is_refused_before_csrf_reads_it(self):
        body = encode_multipart("BoUnDaRy", {"username": "a", "password": "b"})
        response = self.client.generic("POST", "/accounts/login/", body,
                                       content_type="multipart/form-data; boundary=BoUnDaRy")
        # Without the guard: 403 from the CSRF middleware, after parsing the body.
        self.assertEqual(response.status_code, 415)

    def test_an_ordinary_form_still_reaches_its_view(self):
        response = self.client.post("/accounts/login/", "username=a&password=b",
                                    content_type="application/x-www-form-urlencoded")
        self.assertEqual(response.status_code, 200)  # the form again, with its error
        self.assertContains(response, "username")


class AdminTests(TestCase):
    def setUp(self):
        self.staff = User.objects.create_user("boss", password="pw-for-tests", is_staff=True, is_superuser=True)
        self.client.force_login(self.staff)

    def test_a_changelist_refuses_connector_and_negated(self):
        for query in ["?_connector=OR", "?_negated=1", "?_connector__x=1"]:
            response = self.client.get("/admin/chat/room/" + query)
            self.assertEqual(response.status_code, 400, query)
        self.assertEqual(self.client.get("/admin/chat/room/?q=lobby").status_code, 200)

    def test_a_root_path_does_not_hide_the_admin_from_the_guard(self):
        # Daphne takes a root path from the client's Daphne-Root-Path header.
        response = self.client.get("/admin/chat/room/?_connector=OR", SCRIPT_NAME="/x")
        self.assertEqual(response.status_code, 400)

    @override_settings(ADMIN_ALLOWED_NETWORKS=["10.0.0.0/8"])
    def test_outside_its_networks_the_admin_does_not_exist(self):
        self.assertEqual(self.client.get("/admin/").status_code, 404)  # the test client is 127.0.0.1
        self.assertEqual(self.client.get("/admin/", REMOTE_ADDR="10.1.2.3").status_code, 200)
        self.assertEqual(self.client.get("/").status_code, 200)  # the rest of the site answers


class HeaderTests(TestCase):
    def test_pages_carry_a_content_security_policy_and_a_referrer_policy(self):
        response = self.client.get("/")
        self.assertEqual(response["Content-Security-Policy"], CONTENT_SECURITY_POLICY)
        self.assertIn("script-src 'self'", response["Content-Security-Policy"])
        self.assertEqual(response["Referrer-Policy"], "same-origin")
        self.assertEqual(response["X-Content-Type-Options"], "nosniff")
