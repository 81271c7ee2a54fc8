"""
Twelve-factor settings: each case starts a fresh Python with its own
environment, as a deployment would, and reads what it prints or refuses.
"""
import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from proj.env import env_bool, env_int, env_list

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD_KEY = "k" * 20 + "ey-for-tests-0123456789-abcdefghijklmnop"
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, "
    "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], "
    "'hosts_redis': s.CHANNEL_LAYERS['default'].get('CONFIG', {}).get('hosts'), "
    "'connection_class': getattr(s.CHANNEL_LAYERS['default'].get('CONFIG', {}).get('connection_kwargs', {})"
    ".get('connection_class'), '__name__', None), "
    "'db': s.DATABASES['default']['ENGINE'], 'db_name': s.DATABASES['default']['NAME']}))"
)
CONTROLLED = ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "REDIS_URLS",
              "REDIS_SSL_CERT_REQS", "REDIS_SSL_CA_CERTS")


def start(code=PROBE, argv=None, **env):
    """A fresh Python with `env` on top of development mode (DJANGO_DEBUG=1,
    as `make run`); pass DJANGO_DEBUG="0" or None (unset) for production."""
    clean = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    clean.update(dict({"DJANGO_DEBUG": "1"}, **env), DJANGO_SETTINGS_MODULE="proj.settings")
    clean = {k: v for k, v in clean.items() if v is not None}
    return subprocess.run(argv or [sys.executable, "-c", code], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)


def runworker_refusal(**env):
    result = start(argv=[sys.executable, "manage.py", "runworker"], **env)
    assert result.returncode != 0, result.stdout
    return result.stderr.strip().splitlines()[-1]


def settings_with(**env):
    result = start(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refusal(**env):
    result = start(**env)
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_unset_debug_means_production_and_production_refuses_to_start_unconfigured():
    # A deployment that forgets DJANGO_DEBUG must not serve debug pages.
    assert "DJANGO_SECRET_KEY must be set" in refusal(DJANGO_DEBUG=None)


def test_development_needs_only_debug_on():
    seen = settings_with()
    assert seen["debug"] is True
    assert seen["layer"] == "asgiref.inmemory.ChannelLayer"
    assert seen["db"] == "proj.sqlite3"
    assert seen["db_name"] == os.path.join(ROOT, "db.sqlite3")


def test_redis_url_selects_the_redis_layer():
    seen = settings_with(REDIS_URL="redis://127.0.0.1:6390/2")
    assert seen["layer"] == "interface.layer.ChatChannelLayer"
    assert seen["hosts_redis"] == ["redis://127.0.0.1:6390/2"]


SESSIONS_PROBE = (
    "import json, django; django.setup(); from chat.sessions import SessionStore; "
    "from django.conf import settings as s; "
    "print(json.dumps({'store': SessionStore.__name__, "
    "'cache': s.CACHES.get(s.SESSION_CACHE_ALIAS, {}).get('LOCATION')}))"
)


@pytest.mark.parametrize("env, store, cache", [
    ({}, "DatabaseSessionStore", None),
    ({"REDIS_URL": "redis://127.0.0.1:6390/2"}, "RedisSessionStore", "redis://127.0.0.1:6390/2"),
    ({"REDIS_URLS": "redis://127.0.0.1:6391/0,redis://127.0.0.1:6392/0"}, "RedisSessionStore",
     "redis://127.0.0.1:6391/0"),
])
def test_channel_sessions_live_in_redis_when_there_is_one(env, store, cache):
    result = start(code=SESSIONS_PROBE, **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"store": store, "cache": cache}


def test_the_chat_app_config_runs_its_ready():
    # Django 2.2 uses an app's AppConfig only when INSTALLED_APPS names it:
    # listed as plain "chat", the database check before consumers was never
    # connected (a restarted PostgreSQL failed each worker's next message).
    code = ("import django; django.setup(); from channels.signals import consumer_started; "
            "print([uid for (uid, _), _ in consumer_started.receivers])")
    result = start(code=code)
    assert result.returncode == 0, result.stderr
    assert "chat.drop_broken_connections" in result.stdout


def test_redis_urls_spread_the_layer_over_shards_and_win_over_redis_url():
    seen = settings_with(REDIS_URL="redis://127.0.0.1:6390/0",
                         REDIS_URLS="redis://127.0.0.1:6391/0, redis://127.0.0.1:6392/0")
    assert seen["hosts_redis"] == ["redis://127.0.0.1:6391/0", "redis://127.0.0.1:6392/0"]


def test_tls_redis_is_verified_by_default(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    seen = settings_with(REDIS_URL="rediss://:secret@redis.example:6380", REDIS_SSL_CA_CERTS=str(ca))
    # redis-py forces its own SSLConnection on any rediss:// URL: the layer
    # gets it as redis:// with proj.compat.RedisTLSConnection named instead.
    assert seen["hosts_redis"] == ["redis://:secret@redis.example:6380?ssl_cert_reqs=required&ssl_ca_certs=%s"
                                   % str(ca).replace("/", "%2F")]
    assert seen["connection_class"] == "RedisTLSConnection"
    seen = settings_with(REDIS_URL="rediss://redis.example:6380?ssl_cert_reqs=none", REDIS_SSL_CA_CERTS=str(ca))
    assert seen["hosts_redis"] == ["redis://redis.example:6380?ssl_cert_reqs=none&ssl_ca_certs=%s"
                                   % str(ca).replace("/", "%2F")]


def test_tls_redis_without_verification_needs_no_ca():
    seen = settings_with(REDIS_URL="rediss://redis.example:6380", REDIS_SSL_CERT_REQS="none",
                         REDIS_SSL_CA_CERTS="/nonexistent")
    assert seen["hosts_redis"] == ["redis://redis.example:6380?ssl_cert_reqs=none"]
    assert seen["connection_class"] == "RedisTLSConnection"


def test_bad_redis_settings_are_refused_by_name():
    assert "REDIS_URLS: 'http://x' is not a redis://" in refusal(REDIS_URLS="redis://a:1/0,http://x")
    assert "REDIS_SSL_CERT_REQS='maybe'" in refusal(REDIS_URL="rediss://a:1", REDIS_SSL_CERT_REQS="maybe")
    assert "REDIS_SSL_CA_CERTS='/nonexistent'" in refusal(REDIS_URL="rediss://a:1", REDIS_SSL_CA_CERTS="/nonexistent")


def test_database_url_is_honoured():
    # Reads the settings without loading the database driver.
    code = ("import json; from django.conf import settings as s; "
            "print(json.dumps(s.DATABASES['default']))")
    result = start(code=code, DATABASE_URL="postgres://chat:pw@db.internal:5432/chat")
    assert result.returncode == 0, result.stderr
    db = json.loads(result.stdout)
    # Django 2.2's backend, mended for psycopg2 2.9.
    assert db["ENGINE"] == "proj.postgresql"
    assert (db["NAME"], db["HOST"], db["PORT"], db["USER"]) == ("chat", "db.internal", 5432, "chat")
    assert db["OPTIONS"]["sslmode"] == "prefer"  # libpq's default, said out loud


def test_the_postgresql_connection_can_be_made_to_verify_its_server():
    code = "import json; from django.conf import settings as s; print(json.dumps(s.DATABASES['default']['OPTIONS']))"
    options = json.loads(start(code=code, DATABASE_URL="postgres://c:p@db:5432/chat",
                               DATABASE_SSLMODE="verify-full").stdout)
    assert options["sslmode"] == "verify-full"
    # One in the URL wins, with its certificate options.
    options = json.loads(start(code=code, DATABASE_SSLMODE="require",
                               DATABASE_URL="postgres://c:p@db:5432/chat?sslmode=verify-ca&sslrootcert=/etc/ca.pem").stdout)
    assert (options["sslmode"], options["sslrootcert"]) == ("verify-ca", "/etc/ca.pem")
    assert "DATABASE_SSLMODE='verify'" in refusal(DATABASE_URL="postgres://c:p@db:5432/chat", DATABASE_SSLMODE="verify")


def test_production_with_everything_set_starts():
    seen = settings_with(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY,
                         DJANGO_ALLOWED_HOSTS="chat.example.com, www.example.com")
    assert seen["debug"] is False
    assert seen["hosts"] == ["chat.example.com", "www.example.com"]


def test_production_without_secret_key_names_it():
    assert "DJANGO_SECRET_KEY must be set" in refusal(DJANGO_DEBUG="false", DJANGO_ALLOWED_HOSTS="a.example")


def test_production_with_a_weak_secret_key_names_it():
    assert "DJANGO_SECRET_KEY is too weak" in refusal(
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY="short", DJANGO_ALLOWED_HOSTS="a.example")


def test_production_with_the_development_key_is_refused():
    from django.conf import settings
    assert "DJANGO_SECRET_KEY must be set" in refusal(
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY=settings.DEVELOPMENT_SECRET_KEY, DJANGO_ALLOWED_HOSTS="a.example")


def test_production_without_allowed_hosts_names_it():
    assert "DJANGO_ALLOWED_HOSTS must be set" in refusal(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY)


def test_production_with_wildcard_host_is_refused():
    assert "must not contain '*'" in refusal(
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY, DJANGO_ALLOWED_HOSTS="*")


def test_a_misspelt_boolean_is_refused_by_name():
    assert "DJANGO_DEBUG='flase' is not a boolean" in refusal(DJANGO_DEBUG="flase")


def test_daphne_refuses_the_in_memory_layer():
    line = refusal(code="import asgi")
    assert "REDIS_URL is not set" in line


def test_runworker_without_redis_url_names_it():
    assert "REDIS_URL is not set" in runworker_refusal()


def test_runworker_in_production_refuses_uncollected_static_files(tmp_path):
    line = runworker_refusal(
        DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY, DJANGO_ALLOWED_HOSTS="localhost",
        REDIS_URL="redis://127.0.0.1:6390/0", DJANGO_STATIC_ROOT=str(tmp_path))
    assert "not collected in STATIC_ROOT=%s" % tmp_path in line
    assert "collectstatic" in line


def test_asgi_module_exposes_the_redis_layer():
    result = start(code="import asgi; print(type(asgi.channel_layer).__name__)",
                   REDIS_URL="redis://127.0.0.1:6390/0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ChatChannelLayer"


def test_env_helpers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", " a, ,b ")
    assert env_bool("X_BOOL", False) is True
    assert env_bool("X_UNSET", True) is True
    assert env_int("X_INT", 0) == 12
    assert env_list("X_LIST", []) == ["a", "b"]
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 0)
    monkeypatch.setenv("X_INT", "-1")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 0)


def test_reply_capacity_applies_to_daphnes_real_reply_channels():
    # Daphne 1.4.2 names its reply list "daphne.response.<process id>!" and
    # every socket's channel "<that>!<socket id>"; the layer checks capacity
    # on the part up to the "!".
    # (daphne/server.py Server.run and http_protocol.py make_send_channel).
    code = (
        "import json, django; django.setup(); import asgi; layer = asgi.channel_layer; "
        "reply = 'daphne.response.AbCdEfGhIj!KlMnOpQrSt'; "
        "print(json.dumps([reply, layer.get_capacity(layer.non_local_name(reply)), "
        "layer.get_capacity('websocket.receive'), layer.get_capacity('http.request')]))"
    )
    result = start(code=code, REDIS_URL="redis://127.0.0.1:6390/0", CHANNEL_LAYER_REPLY_CAPACITY="2500")
    assert result.returncode == 0, result.stderr
    reply, reply_capacity, receive_capacity, default_capacity = json.loads(result.stdout)
    assert reply.startswith("daphne.response.")
    assert (reply_capacity, receive_capacity, default_capacity) == (2500, 2000, 100)


HTTPS_PROBE = (
    "import django; django.setup(); from django.test.utils import setup_test_environment; "
    "setup_test_environment(); from django.test import Client; c = Client(); "
    "plain = c.get('/no-such-page.x/', HTTP_HOST='chat.example.com'); "
    "tls = c.get('/no-such-page.x/', HTTP_HOST='chat.example.com', HTTP_X_FORWARDED_PROTO='https'); "
    "print(plain.status_code, plain.get('Location'), tls.status_code, tls.get('Strict-Transport-Security'), "
    "tls.get('X-Frame-Options'), tls.get('X-Content-Type-Options'))"
)
PRODUCTION = dict(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY, DJANGO_ALLOWED_HOSTS="chat.example.com")


def test_https_behind_a_proxy_redirects_plain_http_and_sets_hsts():
    result = start(code=HTTPS_PROBE, DJANGO_HTTPS="1", DJANGO_HSTS_SECONDS="600", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "301", "https://chat.example.com/no-such-page.x/", "404", "max-age=600", "DENY", "nosniff"]


def test_without_https_plain_http_is_served():
    result = start(code=HTTPS_PROBE, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["404", "None", "404", "None", "DENY", "nosniff"]
