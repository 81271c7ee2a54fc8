"""
Reading settings from the environment, strictly.

A typo in a deployment's environment (DJANGO_DEBUG=flase) must stop the
service at start with the variable's name, not quietly pick a default.
"""
import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        "%s=%r is not a boolean; use one of %s." % (name, raw, ", ".join(sorted(_TRUE | _FALSE)))
    )


def env_int(name, default):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured("%s=%r is not a whole number." % (name, raw))
    if value < 0:
        raise ImproperlyConfigured("%s=%r must not be negative." % (name, raw))
    return value


def env_list(name, default):
    """A comma-separated list: DJANGO_ALLOWED_HOSTS=chat.example.com,www.example.com"""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def require_production_settings(secret_key, development_secret_key, allowed_hosts):
    """With DEBUG off, refuse to start on a setting that is missing or unsafe."""
    if "DJANGO_SECRET_KEY" not in os.environ or secret_key == development_secret_key:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    if len(secret_key) < 50 or len(set(secret_key)) < 5:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is too weak: use at least 50 characters with at least 5 different ones."
        )
    if "DJANGO_ALLOWED_HOSTS" not in os.environ or not allowed_hosts:
        raise ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off "
            "(a comma-separated list of the host names this service answers to)."
        )
    if "*" in allowed_hosts:
        raise ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS must not contain '*' when DJANGO_DEBUG is off: "
            "name the hosts, so forged Host headers are refused."
        )


# Said by `daphne asgi:channel_layer` and `manage.py runworker` alike.
IN_MEMORY_LAYER_REFUSAL = (
    "REDIS_URL is not set, so the channel layer is the in-memory one, which lives "
    "inside a single process. Daphne and runworker are separate processes: set "
    "REDIS_URL (e.g. redis://127.0.0.1:6379/0) for both, or use `manage.py runserver`."
)
