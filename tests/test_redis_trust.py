"""
Channel sessions in Redis, against a private redis-server with the
settings a deployment has (a fresh Python with REDIS_URL): they are stored
as JSON, a pickle planted under a session's key is never unpickled (it
would run code in every worker that loads it), and loading one answers
whether it exists without another round trip.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.support.redis_server import ModuleRedis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_redis = ModuleRedis("redis-trust-")


@pytest.fixture(scope="module")
def redis_url():
    _redis.start()
    try:
        yield _redis.url
    finally:
        _redis.stop()


def run(code, redis_url, tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "REDIS_", "DATABASE_", "CHANNEL_", "CHAT_"))}
    env.update(DJANGO_SETTINGS_MODULE="proj.settings", DJANGO_DEBUG="1", REDIS_URL=redis_url,
               DATABASE_URL="sqlite:///%s" % (tmp_path / "db.sqlite3"))
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_channel_session_is_stored_as_json(redis_url, tmp_path):
    raw = run("""
from channels.sessions import session_for_reply_channel
session = session_for_reply_channel("daphne.response.json!1")
session.save(must_create=True)  # as channel_session creates it
session["room_id"] = 7
session.save()
from django.core.cache import caches
from django.conf import settings
client = caches[settings.SESSION_CACHE_ALIAS].client.get_client()
print(client.get(caches[settings.SESSION_CACHE_ALIAS].make_key(session.cache_key)).decode())
""", redis_url, tmp_path)
    assert json.loads(raw)["room_id"] == 7


def test_a_pickle_planted_under_a_session_key_is_not_run(redis_url, tmp_path):
    marker = tmp_path / "pwned"
    out = run("""
import pickle, os
class Exploit:
    def __reduce__(self):
        return (open, (%r, "w"))
from channels.sessions import session_for_reply_channel
from django.core.cache import caches
from django.conf import settings
session = session_for_reply_channel("daphne.response.planted!1")
cache = caches[settings.SESSION_CACHE_ALIAS]
cache.client.get_client().set(cache.make_key(session.cache_key), pickle.dumps(Exploit()))
loaded = session_for_reply_channel("daphne.response.planted!1")
print(dict(loaded.items()))
""" % str(marker), redis_url, tmp_path)
    assert not marker.exists(), "the planted pickle ran"
    assert out == "{}"


def test_a_session_save_is_one_round_trip_and_never_brings_back_a_deleted_session(redis_url, tmp_path):
    out = run("""
import redis
from channels.sessions import session_for_reply_channel
from django.contrib.sessions.backends.base import UpdateError
session = session_for_reply_channel("daphne.response.save!1")
session.save(must_create=True)
session["room_id"] = 3
sent = []
original = redis.StrictRedis.execute_command
redis.StrictRedis.execute_command = lambda self, *args, **options: sent.append(args[0]) or original(self, *args, **options)
session.save()
print(sent)
session_for_reply_channel("daphne.response.save!1").delete()
try:
    session.save()
except UpdateError:
    print("refused")
print(session_for_reply_channel("daphne.response.save!1").exists(session.session_key))
""", redis_url, tmp_path)
    assert out.splitlines() == ["['SET']", "refused", "False"]


def test_a_loaded_session_knows_whether_it_exists_without_asking_redis_again(redis_url, tmp_path):
    out = run("""
from channels.sessions import session_for_reply_channel
from django.core.cache import caches
from django.conf import settings
client = caches[settings.SESSION_CACHE_ALIAS].client.get_client()
def exists_calls():
    return client.info("commandstats").get("cmdstat_exists", {}).get("calls", 0)
before = exists_calls()
new = session_for_reply_channel("daphne.response.exists!1")  # loads it: a GET that misses
answers = [new.exists(new.session_key)]
new.save(must_create=True)
answers.append(new.exists(new.session_key))  # asked again after a save: EXISTS
again = session_for_reply_channel("daphne.response.exists!1")
answers.append(again.exists(again.session_key))
again.delete()
answers.append(again.exists(again.session_key))  # and after a delete
answers.append(again.exists("chnsomeoneelse"))  # another key: EXISTS
print(answers, exists_calls() - before)
""", redis_url, tmp_path)
    assert out == "[False, True, True, False, False] 3"
