"""
Django 2.2's PostgreSQL backend, mended for psycopg2 2.9. This is the one
place that says why.

psycopg2 2.8, the last line Django 2.2 was made for, builds on Python 3.11
but fails at import; 2.9 is the first that runs there. 2.9 hands a
cursor's tzinfo_factory a timedelta where 2.8 handed minutes, so Django
2.2's check `offset != 0` fails on every timestamptz: "database connection
isn't set to UTC" (psycopg2 issue 1293; Django 3.1 fixed it, 2.2 never got
the fix). Only the factory changes here, through Django's own extension
point, a backend named in ENGINE: nothing in site-packages is patched.
tests/test_postgresql.py runs the stock backend (it fails) and this one
against a private server.
"""
import datetime

from django.conf import settings
from django.db.backends.postgresql import base
from django.utils.timezone import utc


def utc_tzinfo_factory(offset):
    if offset not in (0, datetime.timedelta(0)):
        raise AssertionError("database connection isn't set to UTC")
    return utc


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name=None):
        cursor = super().create_cursor(name)
        cursor.tzinfo_factory = utc_tzinfo_factory if settings.USE_TZ else None
        return cursor
