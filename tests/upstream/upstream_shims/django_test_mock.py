"""
channels 1.1.8 tests/test_management.py: `from django.test import TestCase, mock`.
django.test.mock was a deprecated alias of unittest.mock (Django 1.9 to 1.11,
which channels 1.1.8 was tested on) and is gone from Django 2.x; give the
alias back, pointing at the same unittest.mock.
"""
import unittest.mock

import django.test

if not hasattr(django.test, "mock"):
    django.test.mock = unittest.mock
