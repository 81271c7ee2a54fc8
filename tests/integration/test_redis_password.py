"""
Redis that asks for a password (requirepass), given in the URLs as
deployments give it (redis://:<password>@host:port/0): Daphne, the
workers, channel sessions and presence all use it; the chat works, and a
client without the password is refused by Redis.
"""
import secrets
import socket

import pytest
import websocket

from tests.support.chat_stack import chat_stack

from .conftest import Socket, assert_message_frame, chat_path, unique_label

pytestmark = [pytest.mark.integration, pytest.mark.one_database]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with chat_stack(tmp_path_factory.mktemp("redis-password"), workers=2,
                    redis_password=secrets.token_urlsafe(24)) as running:
        running.start_presence()
        yield running


def test_the_chat_runs_against_a_redis_that_asks_for_a_password(stack, http_get):
    label = unique_label("password")
    assert http_get("/%s/" % label).status == 200
    alice, bob = (Socket(websocket.create_connection(stack.ws_url(chat_path(label)), timeout=10), label)
                  for _ in range(2))
    try:
        frame = assert_message_frame(alice.say_all("alice", ["behind a password"])[0], label, "alice",
                                     "behind a password")
        assert bob.recv_json() == frame
        bob.presence_becomes([], 2, timeout=10)
    finally:
        alice.close()
        bob.close()


def test_redis_refuses_whoever_has_no_password(stack):
    with socket.create_connection(("127.0.0.1", stack.redis_port), timeout=5) as sock:
        sock.sendall(b"KEYS *\r\n")
        assert sock.recv(128).startswith(b"-NOAUTH")
