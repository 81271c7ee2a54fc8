"""
proj/compat.py on the Python running the tests: each shim works, and each
is needed (the same step without it fails, or warns, on this Python).
Fresh interpreters are started where the point is what a process imports
first.
"""
import ast
import configparser
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import warnings
from importlib import metadata

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from proj import compat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)


def python(*args, env=None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DJANGO_", "PYTHONWARNINGS"))}
    clean["DJANGO_DEBUG"] = "1"  # development, as make run; env may say otherwise
    clean.update(env or {})
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


# Entry points

def first_statement(path):
    body = ast.parse(open(os.path.join(ROOT, path)).read()).body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return ast.unparse(body[0])


@pytest.mark.parametrize("path", ["manage.py", "asgi.py"])
def test_every_entry_point_imports_compat_first(path):
    assert first_statement(path) == "import proj.compat"


def test_pytest_loads_compat_as_a_plugin_before_django_is_set_up():
    ini = configparser.ConfigParser()
    ini.read(os.path.join(ROOT, "pytest.ini"))
    assert "-p proj.compat" in ini["pytest"]["addopts"]
    assert "proj.compat" in sys.modules


def test_manage_py_check_passes_with_deprecation_and_import_warnings_as_errors():
    result = python("-W", "error::DeprecationWarning", "-W", "error::PendingDeprecationWarning",
                    "-W", "error::ImportWarning", "manage.py", "check")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


# django.utils.six, served by the pinned six

SIX_MOVES = "from django.utils.six.moves.urllib.parse import urlparse; import channels.staticfiles"


def test_django_utils_six_moves_import_through_the_current_six():
    result = python("-W", "error::ImportWarning", "-c",
                    "import proj.compat, six; " + SIX_MOVES + "; import django.utils.six as s; "
                    "print(s.__version__, s.__version__ == six.__version__)")
    assert result.returncode == 0, result.stderr
    version, same = result.stdout.split()
    assert same == "True" and tuple(map(int, version.split(".")[:2])) >= (1, 16)


def test_without_compat_django_utils_six_moves_fail_or_warn():
    # Django 2.2's six 1.10 has no find_spec: gone on 3.12, a warning on 3.11.
    result = python("-W", "error::ImportWarning", "-c", SIX_MOVES)
    assert result.returncode != 0
    expected = "No module named 'django.utils.six.moves'" if PY312 else "find_spec() not found"
    assert expected in result.stderr


def test_compat_serves_six_also_after_django_loaded_its_own():
    # A process that ran django.setup() before reading the settings (which
    # import compat) already holds Django's six; compat replaces it.
    result = python("-W", "error::ImportWarning", "-c",
                    "import django.utils.encoding, proj.compat; " + SIX_MOVES)
    assert result.returncode == 0, result.stderr


# cgi

CGI_IMPORTERS = "import django.http.multipartparser, django.core.handlers.wsgi, channels.handler"


def test_the_modules_that_import_cgi_import_without_a_warning():
    result = python("-W", "error::DeprecationWarning", "-c", "import proj.compat; " + CGI_IMPORTERS)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(PY313, reason="3.13 has no cgi of its own")
def test_without_compat_the_standard_librarys_cgi_warns():
    result = python("-W", "error:'cgi' is deprecated:DeprecationWarning", "-c", CGI_IMPORTERS)
    assert result.returncode != 0
    assert compat.CGI_DEPRECATION in result.stderr


def test_cgi_comes_from_legacy_cgi_exactly_where_the_standard_library_has_none():
    import cgi

    pinned = [line for line in open(os.path.join(ROOT, "requirements.txt")) if line.startswith("legacy-cgi==")]
    assert pinned == ['legacy-cgi==2.6.4 ; python_version >= "3.13"\n']
    if PY313:
        assert metadata.version("legacy-cgi") == "2.6.4"
        assert "site-packages" in cgi.__file__
    else:
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.version("legacy-cgi")
        assert "site-packages" not in cgi.__file__


# distutils and pkg_resources, from the pinned setuptools

def test_distutils_is_setuptools_own_on_every_python():
    result = python("-W", "error::DeprecationWarning", "-c",
                    "import distutils.version; print(distutils.version.__file__)")
    assert result.returncode == 0, result.stderr
    assert os.path.join("setuptools", "_distutils") in result.stdout


def test_supervisor_finds_pkg_resources():
    # supervisor 4.2.5 imports it; setuptools 82 removed it.
    result = python("-c", "import supervisor.options")
    assert result.returncode == 0, result.stderr


# Warnings: one list, exact

def test_each_filter_ignores_exactly_its_message_from_its_module():
    for message, category, module, reason in compat.WARNING_FILTERS:
        assert reason
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            compat.filter_warnings()
            warnings.warn_explicit(message, category, "x.py", 1, module=module)
            warnings.warn_explicit(message, category, "x.py", 1, module="chat.consumers")
            warnings.warn_explicit(message + " (and more)", category, "x.py", 1, module=module)
            warnings.warn_explicit(message, category, "x.py", 1, module=module + ".sub")
        assert len(seen) == 3, (message, module)


OWN_AND_THEIR_WARNINGS = """
    import warnings


    def test_a_deprecation_warning_from_our_own_code():
        warnings.warn_explicit("old", DeprecationWarning, "chat/views.py", 1, module="chat.views")


    def test_a_pending_deprecation_warning_from_our_own_code():
        warnings.warn_explicit("old", PendingDeprecationWarning, "proj/x.py", 1, module="proj.x")


    def test_a_known_one_from_a_library():
        warnings.warn_explicit({message!r}, DeprecationWarning, "v.py", 98, module="django.utils.version")


    def test_an_unknown_one_from_a_library():
        warnings.warn_explicit("new", DeprecationWarning, "v.py", 1, module="django.utils.version")
"""


def test_pytest_fails_a_deprecation_warning_from_our_code_and_ignores_the_known_ones(tmp_path):
    test_file = tmp_path / "test_warnings_here.py"
    test_file.write_text(textwrap.dedent(OWN_AND_THEIR_WARNINGS.format(message=compat.DISTUTILS_VERSION_CLASSES)))
    result = python("-m", "pytest", "-c", os.path.join(ROOT, "pytest.ini"), "--rootdir", ROOT, "-p",
                    "no:cacheprovider", "-q", "-rA", str(test_file))
    outcomes = {line.split("::")[-1].split()[0]: line.split()[0] for line in result.stdout.splitlines()
                if "::test_" in line and line.split()[0] in ("PASSED", "FAILED")}
    assert outcomes == {
        "test_a_deprecation_warning_from_our_own_code": "FAILED",
        "test_a_pending_deprecation_warning_from_our_own_code": "FAILED",
        "test_a_known_one_from_a_library": "PASSED",
        "test_an_unknown_one_from_a_library": "PASSED",
    }, result.stdout + result.stderr
    summary = result.stdout.split("warnings summary")[-1]
    assert "new" in summary and compat.DISTUTILS_VERSION_CLASSES not in summary


# Redis over TLS

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(directory, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=%s" % name, "-keyout", name + ".key", "-out", name + ".pem", cwd=directory)
    return os.path.join(directory, name + ".pem")


def make_server_certificate(directory, ca, name, alt_name):
    with open(os.path.join(directory, name + ".ext"), "w") as ext:
        ext.write("subjectAltName=%s\n" % alt_name)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", name + ".key", "-out", name + ".csr", cwd=directory)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
            "-days", "1", "-extfile", name + ".ext", "-out", name + ".pem", cwd=directory)
    return os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")


class TLSPongServer:
    """A TLS listener on a free loopback port that answers every Redis
    command with +PONG: enough for a handshake and a PING."""

    def __init__(self, certificate, key):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificate, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(client,), daemon=True).start()

    def answer(self, client):
        try:
            with self.context.wrap_socket(client, server_side=True) as tls:
                while tls.recv(65536):
                    tls.sendall(b"+PONG\r\n")
        except (OSError, ssl.SSLError):
            pass

    def close(self):
        self.listener.close()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tls"))
    ca, stranger_ca = make_ca(directory, "ca"), make_ca(directory, "stranger")
    servers = {
        "right_host": TLSPongServer(*make_server_certificate(directory, "ca", "right", "IP:127.0.0.1")),
        "other_host": TLSPongServer(*make_server_certificate(directory, "ca", "other", "DNS:elsewhere.example")),
    }
    yield {"ca": ca, "stranger_ca": stranger_ca, **{name: server.port for name, server in servers.items()}}
    for server in servers.values():
        server.close()


def ping(connection_class, port, **options):
    connection = connection_class(host="127.0.0.1", port=port, socket_timeout=5, **options)
    try:
        connection.send_command("PING")
        return connection.read_response()
    finally:
        connection.disconnect()


def test_tls_checks_the_certificate_and_its_host_name(tls):
    assert ping(compat.RedisTLSConnection, tls["right_host"], ssl_ca_certs=tls["ca"]) == b"PONG"
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        ping(compat.RedisTLSConnection, tls["right_host"], ssl_ca_certs=tls["stranger_ca"])
    with pytest.raises(redis.ConnectionError, match="mismatch"):
        ping(compat.RedisTLSConnection, tls["other_host"], ssl_ca_certs=tls["ca"], ssl_cert_reqs="required")
    with pytest.raises(redis.ConnectionError, match="mismatch"):
        ping(compat.RedisTLSConnection, tls["other_host"], ssl_ca_certs=tls["ca"], ssl_cert_reqs="optional")


def test_tls_without_checks_accepts_any_certificate(tls):
    for port in (tls["right_host"], tls["other_host"]):
        assert ping(compat.RedisTLSConnection, port, ssl_cert_reqs="none", ssl_ca_certs=tls["stranger_ca"]) == b"PONG"


# What this test calls on 3.11 is what the warnings are about.
@pytest.mark.filterwarnings(r"ignore:ssl\.wrap_socket\(\) is deprecated:DeprecationWarning",
                            "ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")
def test_redis_pys_own_tls_is_gone_on_3_12_and_never_checked_the_host_name(tls):
    options = dict(ssl_ca_certs=tls["ca"], ssl_cert_reqs="required")
    if PY312:
        with pytest.raises(AttributeError, match="wrap_socket"):
            ping(redis.connection.SSLConnection, tls["right_host"], **options)
    else:
        assert ping(redis.connection.SSLConnection, tls["other_host"], **options) == b"PONG"


def test_rediss_urls_reach_the_clients_as_redis_urls_naming_the_tls_connection():
    urls, options = compat.redis_client_settings(["rediss://:pw@a.example:6380/1?ssl_cert_reqs=none"])
    assert urls == ["redis://:pw@a.example:6380/1?ssl_cert_reqs=none"]
    assert options == {"connection_class": compat.RedisTLSConnection}
    assert compat.redis_client_settings(["redis://a:1/0", "unix:///tmp/r.sock"]) == (
        ["redis://a:1/0", "unix:///tmp/r.sock"], {})
    with pytest.raises(ImproperlyConfigured, match="mixes rediss://"):
        compat.redis_client_settings(["rediss://a:1/0", "redis://b:1/0"])


SETTINGS_PROBE = """
import django; django.setup()
from channels.asgi import channel_layers
from django.core.cache import caches
layer = channel_layers["default"].channel_layer
client = caches["channel_sessions"].client.get_client()
for pool in [connection.connection_pool for connection in layer._connection_list] + [client.connection_pool]:
    print(pool.connection_class.__name__)
print(client.ping(), layer.connection(0).ping())
"""


def test_the_channel_layer_and_the_session_cache_speak_tls_through_the_settings(tls):
    result = python("-c", SETTINGS_PROBE, env={
        "DJANGO_SETTINGS_MODULE": "proj.settings", "REDIS_URL": "rediss://127.0.0.1:%d/0" % tls["right_host"],
        "REDIS_SSL_CA_CERTS": tls["ca"]})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["RedisTLSConnection", "RedisTLSConnection", "True", "True"]
