"""
Reading settings from the environment, strictly.

A typo in a deployment's environment (DJANGO_DEBUG=flase) must stop the
service at start with the variable's name, not quietly pick a default.
"""
import ipaddress
import os
import ssl
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


def env_choice(name, default, choices):
    """One of `choices`, by name."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip() not in choices:
        raise ImproperlyConfigured("%s=%r is not one of %s." % (name, raw, ", ".join(choices)))
    return raw.strip()


# libpq's sslmode values.
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def env_networks(name):
    """A comma-separated list of networks in CIDR form (10.0.0.0/8,
    2001:db8::/32, or one address); [] when unset."""
    networks = env_list(name, [])
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ImproperlyConfigured("%s: %r is not a network (e.g. 10.0.0.0/8 or 192.0.2.7)." % (name, network))
    return networks


REDIS_SCHEMES = ("redis", "rediss", "unix")
CERT_REQS = ("required", "optional", "none")


def env_redis_urls():
    """
    The channel layer's Redis servers: REDIS_URLS (comma-separated shards)
    if set, else REDIS_URL alone; [] for neither. A rediss:// (TLS) URL gets
    the certificate check of REDIS_SSL_CERT_REQS and REDIS_SSL_CA_CERTS in
    its query string, where redis-py reads it, unless the URL says otherwise.
    """
    name = "REDIS_URLS" if os.environ.get("REDIS_URLS", "").strip() else "REDIS_URL"
    urls = env_list(name, [])
    for url in urls:
        if urlsplit(url).scheme not in REDIS_SCHEMES:
            raise ImproperlyConfigured("%s: %r is not a redis://, rediss:// or unix:// URL." % (name, url))
    return [_with_tls_options(url) if urlsplit(url).scheme == "rediss" else url for url in urls]


def _with_tls_options(url):
    cert_reqs = os.environ.get("REDIS_SSL_CERT_REQS", "").strip().lower() or "required"
    if cert_reqs not in CERT_REQS:
        raise ImproperlyConfigured("REDIS_SSL_CERT_REQS=%r: use one of %s." % (cert_reqs, ", ".join(CERT_REQS)))
    options = {"ssl_cert_reqs": cert_reqs}
    if cert_reqs != "none":
        defaults = ssl.get_default_verify_paths()
        ca_certs = os.environ.get("REDIS_SSL_CA_CERTS", "").strip() or defaults.cafile or defaults.openssl_cafile
        if not ca_certs or not os.path.isfile(ca_certs):
            raise ImproperlyConfigured(
                "REDIS_SSL_CA_CERTS=%r is not a file of CA certificates; name the one that signed the "
                "Redis server's certificate, or set REDIS_SSL_CERT_REQS=none to encrypt without "
                "checking it." % ca_certs)
        options["ssl_ca_certs"] = ca_certs
    parts = urlsplit(url)
    query = dict(options, **dict(parse_qsl(parts.query)))
    return urlunsplit(parts._replace(query=urlencode(query)))


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
