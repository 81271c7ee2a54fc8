"""
Signing in costs one run of the password hasher whatever the username:
taken, free, or a user without a usable password (CVE-2024-39329).
"""
from unittest import mock

from django.contrib.auth import authenticate
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.test import TestCase


class SignInWorkTests(TestCase):
    def setUp(self):
        User.objects.create_user("ada", password="a long password 1")
        User.objects.create_user("grace")  # no usable password

    def hashes(self, username, password):
        """(who authenticate() returned, how many times the hasher ran)."""
        original = PBKDF2PasswordHasher.encode
        with mock.patch.object(PBKDF2PasswordHasher, "encode", autospec=True, side_effect=original) as encode:
            user = authenticate(username=username, password=password)
        return user, encode.call_count

    def test_every_refusal_runs_the_hasher_once(self):
        self.assertEqual(self.hashes("ada", "wrong"), (None, 1))
        self.assertEqual(self.hashes("nobody", "wrong"), (None, 1))
        self.assertEqual(self.hashes("grace", "wrong"), (None, 1))  # 0 with Django 2.2's own backend

    def test_the_right_password_still_signs_in(self):
        user, count = self.hashes("ada", "a long password 1")
        self.assertEqual((user.username, count), ("ada", 1))
        self.assertIsNone(authenticate(username="ada"))
