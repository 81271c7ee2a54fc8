"""
Settings for the chat service, twelve-factor style.

Every difference between a laptop and a deployment is an environment
variable (see README.md, "Environment"). Development needs DJANGO_DEBUG=1
and nothing else (`make run` sets it): SQLite in the project folder, the
in-memory channel layer that only `runserver` can use. With DJANGO_DEBUG
off, the default, the service refuses to start on a missing or unsafe
setting and names it.
"""
import os

import dj_database_url

from proj.compat import redis_client_settings
from proj.env import (SSLMODES, env_bool, env_choice, env_int, env_list, env_networks, env_redis_urls,
                      require_production_settings)

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Off unless asked for: a deployment that forgets it must not serve debug
# pages (which show settings, Redis URLs and passwords included). `make run`
# and the tests turn it on.
DEBUG = env_bool("DJANGO_DEBUG", False)

# Only ever used when DEBUG is on: require_production_settings() refuses it
# in production, so a forgotten DJANGO_SECRET_KEY cannot ship.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
# Where /admin/ answers from (chat/http_guards.py); unset: anywhere.
ADMIN_ALLOWED_NETWORKS = env_networks("DJANGO_ADMIN_ALLOWED_NETWORKS")

if not DEBUG:
    require_production_settings(SECRET_KEY, DEVELOPMENT_SECRET_KEY, ALLOWED_HOSTS)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before channels: chat's runworker (stricter start-up checks) wins.
    # The AppConfig by name: Django 2.2 does not find it in chat/apps.py
    # itself, and its ready() connects the database check (chat/apps.py).
    "chat.apps.ChatConfig",
    "channels",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads request.POST or routes to a view (chat/http_guards.py).
    "chat.http_guards.refuse_multipart",
    "chat.http_guards.guard_admin",
    "chat.http_guards.security_headers",
    # Serves collected static files from the worker when no nginx stands in
    # front (Heroku); behind nginx, nginx answers /static/ itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Safe everywhere: no MIME sniffing, no framing, the browser's XSS filter.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_BROWSER_XSS_FILTER = True
X_FRAME_OPTIONS = "DENY"

# DJANGO_HTTPS=1 when users reach the service over TLS at a proxy (nginx,
# Heroku's router) that sets X-Forwarded-Proto: then redirect plain HTTP,
# keep cookies off plain HTTP, and ask browsers to stay on HTTPS.
HTTPS = env_bool("DJANGO_HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 3600)

ROOT_URLCONF = "proj.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASE_URL, e.g. postgres://user:pass@host:5432/chat; SQLite by default.
# CONN_MAX_AGE: a worker keeps its connection between messages; channels
# closes it when older, or broken (a restarted server), before the next one.
DATABASES = {
    "default": dj_database_url.config(
        default="sqlite:///" + os.path.join(BASE_DIR, "db.sqlite3"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] in ("django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"):
    # Django 2.2's backend, mended for psycopg2 2.9 (why: proj/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "proj.postgresql"
    # libpq's own default, "prefer", takes an unencrypted connection from
    # whoever answers; verify-full checks the server (docs/deployment.md).
    # A ?sslmode= in DATABASE_URL wins.
    sslmode = env_choice("DATABASE_SSLMODE", "prefer", SSLMODES)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("sslmode", sslmode)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Write-ahead log, for several worker processes on one file (proj/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "proj.sqlite3"
    # Wait for the write lock instead of failing a chat message with
    # "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

# No Redis: the in-memory layer, which lives inside one process and so serves
# only `runserver`. REDIS_URL (or shards in REDIS_URLS): Daphne and every
# runworker share it; asgi_redis spreads channels and Groups over the shards.
REDIS_URLS = env_redis_urls()
# The same as the redis-py clients take them: a rediss:// (TLS) URL as
# redis:// with proj.compat.RedisTLSConnection named, because redis-py's own
# SSLConnection does not run on Python 3.12+ and checks no host name.
REDIS_CLIENT_URLS, REDIS_CONNECTION_KWARGS = redis_client_settings(REDIS_URLS)
RECEIVE_CAPACITY = env_int("CHANNEL_LAYER_RECEIVE_CAPACITY", 2000)
if REDIS_URLS:
    CHANNEL_LAYERS = {
        "default": {
            # redis_layer's layer (asgi_redis's, fewer round trips) in every
            # process; in Daphne alone also per-socket and per-address limits
            # on what clients send (interface/layer.py); 0 turns one off.
            "BACKEND": "interface.layer.ChatChannelLayer",
            "CONFIG": {
                "hosts": REDIS_CLIENT_URLS,
                "connection_kwargs": REDIS_CONNECTION_KWARGS,
                "frame_rate": env_int("CHAT_SOCKET_FRAME_RATE", 5),
                "frame_burst": env_int("CHAT_SOCKET_FRAME_BURST", 20),
                "address_frame_rate": env_int("CHAT_ADDRESS_FRAME_RATE", 10),
                "address_frame_burst": env_int("CHAT_ADDRESS_FRAME_BURST", 50),
                "connect_rate": env_int("CHAT_ADDRESS_CONNECT_RATE", 5),
                "connect_burst": env_int("CHAT_ADDRESS_CONNECT_BURST", 30),
                "max_frame_size": env_int("CHAT_MAX_FRAME_SIZE", 65536),
                # Seconds an unconsumed message lives before the layer drops it.
                "expiry": env_int("CHANNEL_LAYER_EXPIRY", 60),
                # Seconds a Group membership lives; Daphne closes sockets
                # before that (deploy/daphne.sh, --websocket_timeout).
                "group_expiry": env_int("CHANNEL_LAYER_GROUP_EXPIRY", 86400),
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 100),
                # One Daphne's reply list, shared by all its sockets: why
                # 10000, README's CHANNEL_LAYER_REPLY_CAPACITY row.
                "channel_capacity": {
                    "daphne.response.*": env_int("CHANNEL_LAYER_REPLY_CAPACITY", 10000),
                    # Every socket's frames share this one channel: when it is
                    # full Daphne closes whichever socket sends next. Room for
                    # bursts; the budgets above keep any one client from filling it.
                    "websocket.receive": RECEIVE_CAPACITY,
                    # A Daphne restart closes, and its pages then reopen, all
                    # its sockets at once: at the stock 100, Daphne drops the
                    # disconnects beyond it (the pruner then cleans up within
                    # 45 s) and refuses the connects. The per-address connect
                    # budget keeps any one client from filling it.
                    "websocket.connect": RECEIVE_CAPACITY,
                    "websocket.disconnect": RECEIVE_CAPACITY,
                    # enforce_ordering parks a socket's frames that arrive
                    # before an earlier one here: room for all of them.
                    "__wait__.*": RECEIVE_CAPACITY,
                    # Mention notifications waiting for a background worker
                    # (chat/notifications.py).
                    "chat.background": RECEIVE_CAPACITY,
                },
            },
            "ROUTING": "routing.channel_routing",
        },
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "asgiref.inmemory.ChannelLayer",
            "ROUTING": "routing.channel_routing",
        },
    }

SESSION_ENGINE = "django.contrib.sessions.backends.db"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# A socket's state between its messages: with Redis, in Redis (the first
# shard) through Django's cache session store; without Redis (runserver), in
# the database. Why: chat/sessions.py.
CHANNEL_SESSION_ENGINE = "chat.sessions"
CHANNEL_SESSION_MAX_AGE = env_int("CHANNEL_SESSION_MAX_AGE", 86400)
# Sockets from another port or host may name a Django session in
# ?session_key=: off, because such URLs end up in access logs.
CHAT_SESSION_KEY_IN_QUERY = env_bool("CHAT_SESSION_KEY_IN_QUERY", False)
CHANNEL_SESSIONS_IN_REDIS = bool(REDIS_URLS)
if CHANNEL_SESSIONS_IN_REDIS:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "channel_sessions": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_CLIENT_URLS[0],
            "OPTIONS": {
                "CONNECTION_POOL_KWARGS": REDIS_CONNECTION_KWARGS,
                # JSON, not django-redis's default pickle: whoever can write
                # to Redis must not be able to run code in every worker.
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
            },
            "KEY_PREFIX": "chat-session",
        },
    }
    # Django's cache session store reads its cache from here; HTTP sessions
    # stay in the database (SESSION_ENGINE), so this names channel sessions only.
    SESSION_CACHE_ALIAS = "channel_sessions"

# Django's ModelBackend, answering in the same work for every username (chat/auth.py).
AUTHENTICATION_BACKENDS = ["chat.auth.ModelBackend"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_L10N = True
USE_TZ = True

STATIC_URL = "/static/"
# Where `collectstatic` puts files for nginx or WhiteNoise to serve.
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or os.path.join(BASE_DIR, "staticfiles")
# In development WhiteNoise serves straight from the apps, no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG

# Chat limits; the wire contract in docs/protocol.md names them.
CHAT_HISTORY_ON_PAGE = 50
CHAT_CATCHUP_LIMIT = env_int("CHAT_CATCHUP_LIMIT", 100)
# Bytes of one HTTP request body; Daphne answers 413 to a larger one before
# reading it (interface/http_request.py), nginx.conf's client_max_body_size by
# default; 0: any size.
CHAT_MAX_REQUEST_BODY = env_int("CHAT_MAX_REQUEST_BODY", 1024 * 1024)
# HTTP requests one client address may make, checked in Daphne
# (interface/http_request.py): n in the period, refilled evenly; 0 turns one off.
# {kind: (requests a second, burst)}.
def _per(name, default, seconds):
    count = env_int(name, default)
    return (count / float(seconds), count)


CHAT_HTTP_BUDGETS = {
    # Room pages (a first visit makes the room) and /new/.
    "rooms": _per("CHAT_ADDRESS_ROOMS_PER_MINUTE", 60, 60),
    "signup": _per("CHAT_ADDRESS_SIGNUPS_PER_HOUR", 10, 3600),
    # The site's and the admin's sign-in forms: each attempt runs the password hasher.
    "signin": _per("CHAT_ADDRESS_SIGNINS_PER_MINUTE", 10, 60),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Control characters a client sent (a path, an address) escaped (proj/log_format.py).
        "plain": {"()": "proj.log_format.EscapingFormatter",
                  "format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {
        # channels' commands give Daphne's loggers a handler of their own
        # (channels.log.setup_logger) and leave them propagating: under
        # runserver each Daphne line would come out twice, in two formats.
        # The console skips a record that a handler of its own logger wrote.
        "not_written_yet": {
            "()": lambda get_logger: lambda record: not get_logger(record.name).handlers,
            "get_logger": "ext://logging.getLogger",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["not_written_yet"]},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "chat": {"level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"), "propagate": True},
        # Daphne's budgets and Redis restarts; the layer and the socket registry.
        "interface": {"level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"), "propagate": True},
        "redis_layer": {"level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"), "propagate": True},
        "django": {"level": "INFO", "propagate": True},
        "channels": {"level": "INFO", "propagate": True},
    },
}
