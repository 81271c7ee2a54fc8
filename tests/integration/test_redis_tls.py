"""
Redis over TLS (rediss://, as Heroku Redis speaks it), against a real
redis-server with throwaway certificates: the chat works through Daphne and
two workers, the certificate is checked against the CA given, a stranger's
CA is refused, and REDIS_SSL_CERT_REQS=none accepts any certificate.
"""
import subprocess
import sys

import pytest

from tests.support.chat_stack import chat_environment, chat_stack
from tests.support.processes import REPO_ROOT, ProcessGroup
from tests.support.redis_tls import make_certificates, start_tls_redis

from .conftest import assert_message_frame

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    with ProcessGroup(tmp_path_factory.mktemp("redis-tls")) as group:
        certs = make_certificates(group)
        _, port = start_tls_redis(group, certs)
        yield certs, "rediss://127.0.0.1:%d/0" % port


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tls_redis, module_database):
    certs, url = tls_redis
    with chat_stack(tmp_path_factory.mktemp("chat-stack-tls"), workers=2, REDIS_URL=url,
                    REDIS_SSL_CA_CERTS=certs.ca, DATABASE_URL=module_database("chat_tls")) as running:
        yield running


def test_chat_over_tls_redis_with_the_certificate_checked(stack, new_room, join, http_get):
    label = new_room("tls")
    alice, bob = join(label), join(label)
    for number in range(3):
        alice.say("alice", "over tls %d" % number)
        frame = assert_message_frame(alice.recv_json(), label, "alice", "over tls %d" % number)
        assert bob.recv_json() == frame
    assert http_get("/api/rooms/%s/messages/" % label).json()["messages"][-1]["message"] == "over tls 2"


ROUND_TRIP = (
    "import django; django.setup(); from channels.asgi import get_channel_layer; "
    "layer = get_channel_layer(); layer.send('tls.check', {'ok': 1}); "
    "print(layer.receive(['tls.check'], block=True))"
)


def round_trip(tmp_path, **env):
    environment = chat_environment(str(tmp_path), 0)
    environment.update(env)
    return subprocess.run([sys.executable, "-c", ROUND_TRIP], cwd=REPO_ROOT, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_a_stranger_ca_is_refused(tls_redis, tmp_path):
    certs, url = tls_redis
    result = round_trip(tmp_path, REDIS_URL=url, REDIS_SSL_CA_CERTS=certs.stranger_ca)
    assert result.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr


def test_no_verification_accepts_a_self_signed_server(tls_redis, tmp_path):
    _, url = tls_redis
    result = round_trip(tmp_path, REDIS_URL=url, REDIS_SSL_CERT_REQS="none")
    assert result.returncode == 0, result.stderr
    assert "'ok': 1" in result.stdout
