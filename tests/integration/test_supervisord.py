"""
One server: the shipped supervisord.conf (two Daphnes, two workers) behind
the shipped nginx.conf, against Redis and PostgreSQL. Chat across Daphnes,
the history API, static files from nginx itself, and the faults a server
lives through: a worker or a Daphne killed, supervisord stopped in the
middle of a message. The last test stops everything, so it comes last.
"""
import os
import re
import signal
import threading
import time
import urllib.parse

import psycopg2
import pytest
import websocket

from tests.support.processes import ProcessGroup, chat_environment, descendants, start_redis, wait_until
from tests.support.supervisor import start_server

from .conftest import Database, Socket, assert_message_frame, http_request

pytestmark = pytest.mark.integration

SOCKETS = 4
PER_ADDRESS = 12


@pytest.fixture(scope="module")
def server(tmp_path_factory, postgres_server):
    with ProcessGroup(tmp_path_factory.mktemp("supervisord")) as group:
        _, redis_port = start_redis(group)
        env = chat_environment(group.workdir, redis_port, NGINX_CONNECTIONS_PER_ADDRESS=str(PER_ADDRESS),
                               DATABASE_URL=postgres_server.create_database("chat_supervisord"))
        yield start_server(group, env)


@pytest.fixture
def through_nginx(server):
    opened = []

    def _open(label, after=None):
        url = "ws://127.0.0.1:%d/chat/%s/%s" % (server.nginx_port, urllib.parse.quote(label),
                                                 "" if after is None else "?after=%d" % after)
        sock = Socket(websocket.create_connection(url, timeout=10), url)
        opened.append(sock)
        return sock

    yield _open
    for sock in opened:
        sock.close()


def page(server, path):
    return http_request("http://127.0.0.1:%d%s" % (server.nginx_port, path))


def connects(server, number, label):
    return server.log("daphne_%02d" % number).count("WSCONNECT /chat/%s/" % label)


def chat_round(sender, listeners, label, text):
    sender.say("alice", text)
    frame = assert_message_frame(sender.recv_json(timeout=20), label, "alice", text)
    for listener in listeners:
        assert listener.recv_json(timeout=20) == frame
    return frame


def test_chat_through_nginx_spans_both_daphnes(server, through_nginx):
    label = "across-daphnes"
    assert page(server, "/%s/" % label).status == 200
    sockets = [through_nginx(label) for _ in range(SOCKETS)]
    # nginx's round robin put the sockets on both Daphnes...
    assert connects(server, 0, label) > 0 and connects(server, 1, label) > 0
    # ...and every socket hears every other one.
    for index, sender in enumerate(sockets):
        chat_round(sender, [s for s in sockets if s is not sender], label, "from socket %d" % index)
    history = page(server, "/api/rooms/%s/messages/" % label).json()["messages"]
    assert [m["message"] for m in history] == ["from socket %d" % n for n in range(SOCKETS)]


def test_static_files_come_from_nginx_itself(server):
    response = page(server, "/static/chat/chat.js")
    assert response.status == 200 and b"client_id" in response.body
    assert response.headers["Cache-Control"] == "public, max-age=3600"  # nginx.conf's /static/ location
    assert all("/static/" not in server.log("daphne_%02d" % n) for n in range(2))


def test_a_killed_worker_is_restarted_and_chat_goes_on(server, through_nginx):
    label = "worker-killed"
    assert page(server, "/%s/" % label).status == 200
    alice, bob = through_nginx(label), through_nginx(label)
    old_pid = server.kill("worker_00")
    wait_until(lambda: server.status()["worker_00"][1] not in (None, old_pid), 30, "worker_00 restarted",
               watch=[server.supervisord])
    for number in range(6):
        chat_round(alice, [bob], label, "after the kill %d" % number)
    assert server.all_running()


def test_a_killed_daphne_loses_only_its_sockets_which_reconnect_and_catch_up(server, through_nginx):
    label = "daphne-killed"
    assert page(server, "/%s/" % label).status == 200
    sockets = [through_nginx(label) for _ in range(SOCKETS)]
    first = chat_round(sockets[0], sockets[1:], label, "before the crash")
    server.kill("daphne_00")
    time.sleep(2)
    survivors = [s for s in sockets if _still_open(s)]
    lost = [s for s in sockets if s not in survivors]
    assert survivors and lost, "sockets should have been on both Daphnes"
    said = [chat_round(survivors[0], survivors[1:], label, "while they were away %d" % n)["id"]
            for n in range(3)]
    # The page reconnects through nginx with the last id it has, and catches up.
    for _ in lost:
        back = through_nginx(label, after=first["id"])
        assert [back.recv_json()["id"] for _ in said] == said
    wait_until(server.all_running, 30, "daphne_00 restarted", watch=[server.supervisord])


def _still_open(sock):
    try:
        sock.ws.ping()
        sock.assert_silent(0.2)
        return True
    except BaseException:
        return False


def test_nginx_caps_the_connections_of_one_address(server, through_nginx):
    label = "capped"
    assert page(server, "/%s/" % label).status == 200
    held = [through_nginx(label) for _ in range(PER_ADDRESS)]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        through_nginx(label)
    assert refused.value.status_code == 429
    held.pop().close()
    time.sleep(0.5)
    chat_round(through_nginx(label), held, label, "room for one more")


def test_sigterm_stops_everything_in_time_and_a_message_in_hand_is_finished(server, through_nginx):
    label = "slow-message"
    assert page(server, "/%s/" % label).status == 200
    alice = through_nginx(label)
    children = descendants(server.supervisord.pid)
    db = Database(server.env["DATABASE_URL"])
    # Hold the rooms' table, so the worker that takes the frame blocks in the
    # middle of saving it: a slow message, with no hook in the service.
    locker = psycopg2.connect(server.env["DATABASE_URL"])
    with locker.cursor() as cursor:
        cursor.execute("LOCK TABLE chat_room IN EXCLUSIVE MODE")
    alice.say("alice", "finish me")
    time.sleep(1.5)
    started = time.monotonic()
    os.kill(server.supervisord.pid, signal.SIGTERM)
    # Daphnes stop first (supervisord.conf priorities); the workers get SIGTERM
    # while one of them is still blocked on the frame.
    threading.Timer(4.0, locker.commit).start()
    server.supervisord.popen.wait(60)
    elapsed = time.monotonic() - started
    locker.close()
    # Within the longest stopwaitsecs (30 s, the workers'), and every child gone.
    assert elapsed < 35, elapsed
    assert server.supervisord.returncode == 0
    assert not [pid for pid in children if os.path.exists("/proc/%d" % pid) and _not_zombie(pid)]
    assert [row["message"] for row in db.messages(label)] == ["finish me"]
    logs = server.log("worker_00") + server.log("worker_01")
    assert "Shutdown signal received while busy" in logs


def _not_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return re.search(r"\) (\S)", handle.read()).group(1) != "Z"
    except OSError:
        return False
