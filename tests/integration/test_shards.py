"""
The channel layer spread over two Redis shards (REDIS_URLS), with two
Daphnes and three workers: sockets of one room on both Daphnes receive
every message, each sender's in the order sent.
"""
import urllib.parse

import pytest
import redis
import websocket

from tests.support.chat_stack import chat_environment, prepare_database, start_daphne, start_worker
from tests.support.processes import ProcessGroup
from tests.support.redis_server import start_redis

from .conftest import Socket, http_request

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]

PER_SENDER = 20


@pytest.fixture(scope="module")
def shards(tmp_path_factory, module_database):
    with ProcessGroup(tmp_path_factory.mktemp("shards")) as group:
        ports = [start_redis(group)[1], start_redis(group)[1]]
        env = chat_environment(group.workdir, ports[0], DATABASE_URL=module_database("chat_shards"),
                               REDIS_URLS=",".join("redis://127.0.0.1:%d/0" % port for port in ports))
        prepare_database(group, env)
        workers = [start_worker(group, env, number) for number in (1, 2, 3)]
        daphnes = [start_daphne(group, env, name="daphne-%d" % number)[1] for number in (1, 2)]
        yield group, ports, workers, daphnes


def open_socket(port, label):
    url = "ws://127.0.0.1:%d/chat/%s/" % (port, urllib.parse.quote(label))
    return Socket(websocket.create_connection(url, timeout=10), url)


def test_a_room_spread_over_two_daphnes_and_two_shards_gets_everything_in_order(shards):
    group, redis_ports, workers, daphne_ports = shards
    label = "sharded-room"
    assert http_request("http://127.0.0.1:%d/%s/" % (daphne_ports[0], label)).status == 200
    sockets = [open_socket(port, label) for port in daphne_ports for _ in range(3)]
    senders = {"left": sockets[0], "right": sockets[3]}  # one on each Daphne
    try:
        for number in range(PER_SENDER):
            for handle, sender in senders.items():
                sender.say(handle, "%s %02d" % (handle, number))
        for sock in sockets:
            frames = sock.recv_many(2 * PER_SENDER, timeout=30)
            for handle in senders:
                assert [f["message"] for f in frames if f["handle"] == handle] == [
                    "%s %02d" % (handle, n) for n in range(PER_SENDER)], sock
            sock.assert_silent()
        # Silent, and served: the room's next message is every socket's next frame.
        senders["right"].say("right", "last")
        for sock in sockets:
            assert sock.recv_json()["message"] == "last", sock
    finally:
        for sock in sockets:
            sock.close()
    # Both shards carried the traffic: asgi_redis spreads channels and Groups over them.
    commands = [redis.Redis(port=port).info("stats")["total_commands_processed"] for port in redis_ports]
    assert all(count > 1000 for count in commands), commands
    assert all(worker.alive() for worker in workers)
