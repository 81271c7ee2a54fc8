"""
The Channels 4 peer's settings: Django 5.2, channels 4.3, channels_redis 4.3,
Daphne 4.2, all defaults except what the benchmark must set.

Environment: PEER_REDIS_URL (the channel layer), PEER_DATABASE (a SQLite
file path, or postgres://user@host:port/name).
"""
import os
from urllib.parse import urlparse

SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "benchmark-peer-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "channels", "peerchat"]
MIDDLEWARE = []
ROOT_URLCONF = "peerchat.urls"
ASGI_APPLICATION = "peerchat.asgi.application"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_database = os.environ.get("PEER_DATABASE", "peer.sqlite3")
if _database.startswith("postgres"):
    _url = urlparse(_database)
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "postgres", "HOST": _url.hostname, "PORT": _url.port,
        # As the project ships (proj/settings.py: DATABASE_CONN_MAX_AGE 60).
        "CONN_MAX_AGE": 60,
    }}
else:
    # As the project ships SQLite (proj/sqlite3): write-ahead log, synchronous=NORMAL.
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _database,
                             "OPTIONS": {"timeout": 20,
                                         "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}}}

CHANNEL_LAYERS = {"default": {
    "BACKEND": "channels_redis.core.RedisChannelLayer",
    "CONFIG": {"hosts": [os.environ.get("PEER_REDIS_URL", "redis://127.0.0.1:6379/0")]},
}}
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "root": {"handlers": ["console"], "level": "WARNING"}}
