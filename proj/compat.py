"""
What the 2017 Channels 1.x stack needs to run on Python 3.11, 3.12 and 3.13,
with no file in site-packages changed. Imported first by every entry point
(manage.py, asgi.py, pytest.ini's `-p proj.compat`) and by proj/settings.py
(the Redis TLS connection), so any process that reads the settings has it.
Each part answers one upstream line and one Python change, and
tests/test_compat.py fails without it:

- django.utils.six: Django 2.2 vendors six 1.10, whose import hook has
  find_module but no find_spec. Python 3.12 no longer calls find_module, so
  `django.utils.six.moves` does not import (channels/staticfiles.py, line 6:
  manage.py, runworker and asgi.py all die); 3.11 warns (ImportWarning) each
  time an import reaches that hook. Served here by the pinned six (1.16+ has
  find_spec), loaded under Django's name as Django loads its own copy.
- cgi: removed in Python 3.13 (PEP 594), imported by Django 2.2
  (django/http/multipartparser.py, django/core/handlers/wsgi.py) and channels
  (channels/handler.py). On 3.13 the legacy-cgi distribution provides it
  (requirements.txt, marker python_version >= "3.13"); on 3.11 and 3.12 the
  standard library's, imported here once with its DeprecationWarning ignored,
  since the removal it announces is answered.
- distutils: removed in Python 3.12, imported by Django's
  django/utils/version.py, channels/package_checks.py and redis/connection.py.
  Nothing here: the pinned setuptools provides it on every Python (its
  distutils-precedence.pth), so 3.11 uses the same one and its deprecation
  warning is gone too.
- Redis over TLS: RedisTLSConnection, below.
- WARNING_FILTERS: the warnings third-party code gives on every run that no
  one here can act on, each ignored by exact message and module, with why.
"""
import re
import ssl
import sys
import warnings
from urllib.parse import urlsplit, urlunsplit


def serve_django_utils_six():
    """The installed six, loaded as `django.utils.six` (its import hook then
    serves `django.utils.six.moves.*` and replaces the vendored copy's)."""
    import importlib.util

    import django.utils
    import six

    current = sys.modules.get("django.utils.six")
    if current is not None and getattr(current, "__file__", None) == six.__file__:
        return current
    spec = importlib.util.spec_from_file_location("django.utils.six", six.__file__)
    module = importlib.util.module_from_spec(spec)
    sys.modules["django.utils.six"] = module
    spec.loader.exec_module(module)
    django.utils.six = module
    return module


CGI_DEPRECATION = "'cgi' is deprecated and slated for removal in Python 3.13"


def import_cgi():
    if sys.version_info >= (3, 13):
        try:
            import cgi
        except ImportError as error:
            raise ImportError(
                "Python %d.%d has no cgi module, and Django 2.2 and channels 1.1 import it: install "
                "the legacy-cgi distribution (pip install -r requirements.txt)." % sys.version_info[:2]
            ) from error
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=re.escape(CGI_DEPRECATION) + r"\Z", category=DeprecationWarning)
            import cgi
    return cgi


DISTUTILS_VERSION_CLASSES = "distutils Version classes are deprecated. Use packaging.version instead."

# (message, category, module that the warning is attributed to, why ignored)
WARNING_FILTERS = [
    (DISTUTILS_VERSION_CLASSES, DeprecationWarning, "channels.package_checks",
     "channels 1.1.8 compares its dependencies' versions with distutils' StrictVersion when it starts."),
    (DISTUTILS_VERSION_CLASSES, DeprecationWarning, "django.utils.version",
     "Django 2.2's get_version_tuple (the PostgreSQL driver's version, the autoreloader) uses LooseVersion."),
    (DISTUTILS_VERSION_CLASSES, DeprecationWarning, "redis.connection",
     "redis-py 2.10.6 checks hiredis's version with StrictVersion where hiredis is installed."),
    ("encoding is deprecated, Use raw=False instead.", PendingDeprecationWarning, "msgpack.fallback",
     "asgi_redis 1.4.3 unpacks every channel message with unpackb(encoding='utf8'), which msgpack-python "
     "0.5.6 (pinned: requirements.txt says why) still takes, with this warning each time."),
    ("receive_many is deprecated; please use receive", DeprecationWarning, "asgiref.base_layer",
     "channels 1.1.8's worker loop, enforce_ordering and test client call receive_many, which the "
     "asgiref 1.1.2 it requires deprecates."),
    ("'locale.getdefaultlocale' is deprecated and slated for removal in Python 3.15. "
     "Use setlocale(), getencoding() and getlocale() instead.", DeprecationWarning, "django.utils.encoding",
     "Django 2.2 reads the locale's encoding when django.utils.encoding is imported (Python 3.11+)."),
    ("Use setlocale(), getencoding() and getlocale() instead", DeprecationWarning, "django.utils.encoding",
     "The same, as Python 3.11 words it."),
    ("datetime.datetime.utcnow() is deprecated and scheduled for removal in a future version. Use timezone-aware "
     "objects to represent datetimes in UTC: datetime.datetime.now(datetime.UTC).", DeprecationWarning,
     "django.utils.timezone", "Django 2.2's timezone.now(), called everywhere (Python 3.12+)."),
    ("datetime.datetime.utcfromtimestamp() is deprecated and scheduled for removal in a future version. Use "
     "timezone-aware objects to represent datetimes in UTC: datetime.datetime.fromtimestamp(timestamp, "
     "datetime.UTC).", DeprecationWarning, "django.core.files.storage",
     "Django 2.2's FileSystemStorage.get_modified_time, which collectstatic calls (Python 3.12+)."),
    ("test.http.HttpClient is deprecated. Use test.websocket.WSClient", DeprecationWarning, "channels.test.http",
     "channels.test (the unit tests' client) imports its own deprecated HttpClient module."),
]


def _exactly(text):
    return re.escape(text) + r"\Z"


def filter_warnings():
    for message, category, module, _ in WARNING_FILTERS:
        warnings.filterwarnings("ignore", message=_exactly(message), category=category, module=_exactly(module))


def filterwarnings_lines():
    """WARNING_FILTERS as pytest's `filterwarnings` lines (":" separates
    fields there, so a colon in a message is written \\x3a)."""
    return ["ignore:%s:%s:%s" % (_exactly(message).replace(":", r"\x3a"), category.__name__, _exactly(module))
            for message, category, module, _ in WARNING_FILTERS]


filter_warnings()
serve_django_utils_six()
import_cgi()

import redis.connection  # noqa: E402  (after the shims: it imports distutils)


class RedisTLSConnection(redis.connection.Connection):
    """
    redis-py 2.10.6's connection over TLS, through an ssl.SSLContext. Its own
    SSLConnection (redis/connection.py, SSLConnection._connect) calls
    ssl.wrap_socket, which Python 3.12 removed, and never checks the host
    name. Here the server's certificate is checked against ssl_ca_certs (the
    system's CAs when not given), and so is the host name, unless
    ssl_cert_reqs is "none" (encrypted, nothing checked: Heroku Redis's
    self-signed certificate). The ssl_* options come from the URL's query,
    as redis-py passes them to SSLConnection.
    """

    description_format = "RedisTLSConnection<host=%(host)s,port=%(port)s,db=%(db)s>"
    CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}

    def __init__(self, ssl_keyfile=None, ssl_certfile=None, ssl_cert_reqs="required", ssl_ca_certs=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(ssl_cert_reqs, str):
            if ssl_cert_reqs not in self.CERT_REQS:
                raise redis.exceptions.RedisError("Invalid SSL Certificate Requirements Flag: %s" % ssl_cert_reqs)
            ssl_cert_reqs = self.CERT_REQS[ssl_cert_reqs]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # A client checks a certificate it asked for even when "optional":
        # where one is checked, its host name is too.
        context.check_hostname = ssl_cert_reqs != ssl.CERT_NONE
        context.verify_mode = ssl_cert_reqs
        if ssl_cert_reqs != ssl.CERT_NONE:
            if ssl_ca_certs:
                context.load_verify_locations(cafile=ssl_ca_certs)
            else:
                context.load_default_certs()
        if ssl_certfile:
            context.load_cert_chain(ssl_certfile, ssl_keyfile)
        self.ssl_context = context

    def _connect(self):
        return self.ssl_context.wrap_socket(super()._connect(), server_hostname=self.host)


def redis_client_settings(urls):
    """
    (urls, connection options) for the redis-py clients (the channel layer's
    `hosts` and `connection_kwargs`, the cache's LOCATION and
    CONNECTION_POOL_KWARGS). redis-py picks its SSLConnection for every
    rediss:// URL whatever connection_class says, so TLS URLs go to the
    clients as redis:// with RedisTLSConnection named; their ssl_* options stay.
    """
    tls = [urlsplit(url).scheme == "rediss" for url in urls]
    if not any(tls):
        return list(urls), {}
    if not all(tls):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("REDIS_URLS mixes rediss:// (TLS) and plain URLs: use one kind for every shard.")
    return ([urlunsplit(urlsplit(url)._replace(scheme="redis")) for url in urls],
            {"connection_class": RedisTLSConnection})


if "pytest" in sys.modules:
    # Loaded as a pytest plugin (pytest.ini: -p proj.compat). pytest sets its
    # own warning filters around start-up, collection and each test, from
    # its `filterwarnings` list: WARNING_FILTERS go into that list before
    # the first of those (an outer hook wrapper), so there is one list.
    import pytest

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_load_initial_conftests(early_config):
        for line in filterwarnings_lines():
            early_config.addinivalue_line("filterwarnings", line)
        yield
