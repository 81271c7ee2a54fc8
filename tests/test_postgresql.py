"""
Django 2.2 on psycopg2 2.9 against a private PostgreSQL server: the stock
backend fails on every timestamp, proj.postgresql does not.
"""
import datetime

import pytest
from django.db.backends.postgresql import base as stock

from proj.postgresql import base as mended
from tests.support.postgres import private_postgres


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with private_postgres(tmp_path_factory.mktemp("postgresql")) as started:
        yield started


def wrapper(backend, server):
    settings_dict = {
        "NAME": "postgres", "USER": "postgres", "PASSWORD": "", "HOST": "127.0.0.1", "PORT": server.port,
        "OPTIONS": {}, "TIME_ZONE": None, "CONN_MAX_AGE": 0, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False,
        "TEST": {},
    }
    return backend.DatabaseWrapper(settings_dict, alias="psycopg2-check")


def read_now(connection):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT now()")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def test_stock_django_2_2_backend_fails_on_psycopg2_2_9_timestamps(server, django_db_blocker):
    with django_db_blocker.unblock(), pytest.raises(AssertionError, match="isn't set to UTC"):
        read_now(wrapper(stock, server))


def test_the_mended_backend_reads_aware_utc_timestamps(server, django_db_blocker):
    with django_db_blocker.unblock():
        now = read_now(wrapper(mended, server))
    assert now.utcoffset() == datetime.timedelta(0)
    assert abs(now - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(minutes=1)
