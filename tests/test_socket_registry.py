"""
redis_layer/socket_registry.py against a private redis-server: which Group
members prune() drops, and which it must keep.
"""
import pytest

from redis_layer import socket_registry
from interface.layer import ChatChannelLayer
from tests.test_layers import redis_url  # noqa: F401 (a fixture)

NOW = 1_000_000.0
LIVE, DEAD, UNKNOWN = "daphne.response.live!", "daphne.response.dead!", "daphne.response.old!"


@pytest.fixture
def layer(redis_url):  # noqa: F811
    made = ChatChannelLayer(hosts=[redis_url])
    made.flush()
    return made


def join(layer, group, channel, at):
    layer.connection(0).zadd(layer._group_key(group), **{channel: at})


def members(layer, group):
    return {m.decode() for m in layer.connection(0).zrange(layer._group_key(group), 0, -1)}


def test_prune_drops_sockets_gone_and_keeps_the_rest(layer):
    socket_registry.publish(layer, LIVE, [LIVE + "open", LIVE + "late"], now=NOW - 5)
    socket_registry.publish(layer, DEAD, [DEAD + "a"], now=NOW - socket_registry.DEAD_AFTER - 1)
    for group in ("chat.room.1", "chat.room.2"):
        join(layer, group, LIVE + "open", NOW - 100)        # listed by its live Daphne
        join(layer, group, LIVE + "closed", NOW - 100)      # not listed, joined long before the list
        join(layer, group, LIVE + "new", NOW - 6)           # not listed, but joined after it was written
        join(layer, group, DEAD + "a", NOW - 100)           # its Daphne is silent: dead
        join(layer, group, UNKNOWN + "b", NOW - 100)        # a Daphne that never published
        join(layer, group, "http.response.x", NOW - 100)    # not a Daphne socket at all

    gone = socket_registry.prune(layer, now=NOW)

    assert gone == {LIVE + "closed", DEAD + "a"}
    for group in ("chat.room.1", "chat.room.2"):
        assert members(layer, group) == {LIVE + "open", LIVE + "new", UNKNOWN + "b", "http.response.x"}


def test_a_long_dead_daphnes_stamp_is_forgotten(layer):
    socket_registry.publish(layer, DEAD, [], now=NOW - socket_registry.FORGET_AFTER - 1)
    socket_registry.publish(layer, LIVE, [], now=NOW)
    socket_registry.prune(layer, now=NOW)
    stamps = layer.connection(0).hgetall(socket_registry.redis_key(layer, socket_registry.STAMPS_KEY))
    assert set(stamps) == {LIVE.encode()}


def test_the_registry_leaves_nothing_in_redis_an_hour_after_the_last_daphne_stopped(layer):
    socket_registry.publish(layer, LIVE, [LIVE + "open"], now=NOW)
    first = layer.connection(0)
    for name in (socket_registry.STAMPS_KEY, socket_registry.SOCKETS_KEY + LIVE):
        assert 0 < first.ttl(socket_registry.redis_key(layer, name)) <= socket_registry.FORGET_AFTER


@pytest.mark.parametrize("reply_channel, expected", [
    ("daphne.response.abc!xyz", "daphne.response.abc!"),
    ("websocket.receive", None),
])
def test_process_channel_of(reply_channel, expected):
    assert socket_registry.process_channel_of(reply_channel) == expected
