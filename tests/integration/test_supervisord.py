"""
One server as it ships: supervisord.conf (two Daphnes, two workers) behind
nginx.conf, against Redis and PostgreSQL, every request through nginx.
Chat between sockets on different Daphnes, the history API, static files
from nginx itself, and what a server lives through: a worker or a Daphne
killed, the workers restarted one at a time. Stopping supervisord is in
test_supervisord_shutdown.py, on a stack of its own.

Which Daphne holds a socket is read from the Daphnes' access logs
(deploy/daphne.sh: --access-log -, kept by supervisord per program).
"""
import os
import threading
import time
import uuid

import pytest
import redis
import websocket

from tests.support.nginx import public_directory, start_nginx
from tests.support.chat_stack import chat_environment
from tests.support.processes import ProcessGroup
from tests.support.redis_server import start_redis
from tests.support.supervisor import ServerStack, start_supervisord

from .conftest import assert_message_frame, wait_for

pytestmark = pytest.mark.integration

PER_ADDRESS = 12  # NGINX_CONNECTIONS_PER_ADDRESS: room for every test's sockets, and a cap to reach


@pytest.fixture(scope="module")
def database_url(postgres_server):
    """This module's database: the deployment's, PostgreSQL."""
    return postgres_server.create_database("chat_supervisord_%s" % uuid.uuid4().hex[:8])


@pytest.fixture(scope="module")
def stack(tmp_path_factory, database_url):
    with public_directory() as public, ProcessGroup(tmp_path_factory.mktemp("supervisord")) as group:
        _, redis_port = start_redis(group)
        env = chat_environment(group.workdir, redis_port, DATABASE_URL=database_url,
                               DJANGO_STATIC_ROOT=os.path.join(public, "static"),
                               NGINX_CONNECTIONS_PER_ADDRESS=str(PER_ADDRESS))
        supervisord = start_supervisord(group, env, daphnes=2, workers=2)
        running = ServerStack(group, supervisord, start_nginx(group, supervisord.env, public))
        running.redis_port = redis_port
        yield running


# --------------------------------------------------------------------------
# The Daphnes' access logs: which Daphne holds which socket


def daphne_logs(stack):
    return "".join(stack.supervisord.log(daphne) for daphne in stack.supervisord.daphnes)


def access_line(stack, path):
    """The one access-log line of a request for `path`, once it is written
    (supervisord copies each Daphne's output to its log as it comes)."""
    def written():
        lines = [line for line in daphne_logs(stack).splitlines() if " %s\" " % path in line]
        return lines[0] if len(lines) == 1 else None
    return wait_for(written, what="the access log line of %s" % path)


def connects(stack, label):
    """{daphne: how many sockets to the room it has accepted so far}"""
    return {daphne: stack.supervisord.log(daphne).count('"WSCONNECT /chat/%s/"' % label)
            for daphne in stack.supervisord.daphnes}


def join_and_locate(stack, join, label, after=None):
    """Join the room through nginx; returns (socket, the Daphne that accepted it)."""
    before = connects(stack, label)
    sock = join(label, after=after)

    def accepted_by():
        grown = [daphne for daphne, count in connects(stack, label).items() if count > before[daphne]]
        return grown[0] if len(grown) == 1 else None

    return sock, wait_for(accepted_by, what="the access log line of %r" % sock)


def sockets_on_each_daphne(stack, join, label, each=1):
    """Join until every Daphne holds `each` sockets of the room (nginx's round
    robin spreads them); returns {daphne: [sockets]}."""
    held = {daphne: [] for daphne in stack.supervisord.daphnes}
    for _ in range(8 * each * len(held)):
        sock, daphne = join_and_locate(stack, join, label)
        held[daphne].append(sock)
        if all(len(sockets) >= each for sockets in held.values()):
            return held
    pytest.fail("nginx never spread the sockets over every Daphne: %r" % held)


def everyone(held):
    return [sock for sockets in held.values() for sock in sockets]


def chat_round(sender, listeners, label, text):
    """`sender` says `text`: it and every listener receive the same frame."""
    sender.say("alice", text)
    frame = assert_message_frame(sender.recv_json(timeout=20), label, "alice", text)
    for listener in listeners:
        assert listener.recv_json(timeout=20) == frame, listener
    return frame


def redis_connections_of(pid, redis_port):
    """The local addresses ("127.0.0.1:54321") of the TCP connections that
    process `pid` holds to Redis on `redis_port` (Linux's /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    addresses = set()
    with open("/proc/net/tcp") as table:
        for row in list(table)[1:]:
            fields = row.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.split(":")[1], 16) == redis_port:
                addresses.add("127.0.0.1:%d" % int(local.split(":")[1], 16))
    assert addresses, "process %d holds no connection to Redis on port %d" % (pid, redis_port)
    return addresses


def redis_client_addresses(redis_port):
    """The address of every client Redis on `redis_port` has now."""
    return {client["addr"] for client in redis.StrictRedis(host="127.0.0.1", port=redis_port).client_list()}


def wait_closed(sock, timeout=10):
    """The server side is gone: the socket reports closed (frames still in
    flight are dropped)."""
    def closed():
        try:
            sock.ws.settimeout(0.5)
            sock.ws.recv()
        except websocket.WebSocketTimeoutException:
            return False
        except (websocket.WebSocketConnectionClosedException, OSError):
            return True
        return not sock.connected
    wait_for(closed, timeout=timeout, what="%r to be closed" % sock)


# --------------------------------------------------------------------------
# Through nginx


def test_sockets_on_different_daphnes_chat_through_nginx(stack, join, new_room):
    label = new_room("across")
    held = sockets_on_each_daphne(stack, join, label)
    on_first, on_second = held["daphne_00"][0], held["daphne_01"][0]
    sockets = everyone(held)
    chat_round(on_first, [s for s in sockets if s is not on_first], label, "from daphne_00")
    chat_round(on_second, [s for s in sockets if s is not on_second], label, "from daphne_01")


def test_the_history_api_through_nginx(stack, join, new_room, http_get):
    label = new_room("history")
    said = join(label).say_all("alice", ["one", "two", "three"])
    everything = http_get("/api/rooms/%s/messages/" % label)
    assert everything.status == 200, everything
    assert everything.json() == {"room": label, "messages": said}
    later = http_get("/api/rooms/%s/messages/?after=%d&limit=1" % (label, said[0]["id"]))
    assert later.json()["messages"] == said[1:2]


def test_static_files_are_served_by_nginx_itself(stack, http_get):
    static_root = stack.env["DJANGO_STATIC_ROOT"]
    # A file the workers cannot know: WhiteNoise indexes STATIC_ROOT when a
    # worker starts. Only nginx, reading the directory, can serve it.
    probe = "probe-%s.txt" % uuid.uuid4().hex
    with open(os.path.join(static_root, probe), "w") as handle:
        handle.write("from disk\n")
    fresh = http_get("/static/%s" % probe)
    assert (fresh.status, fresh.text) == (200, "from disk\n"), fresh
    assert fresh.headers["Content-Type"] == "text/plain"

    script = http_get("/static/chat/chat.js")
    with open(os.path.join(static_root, "chat", "chat.js"), "rb") as handle:
        assert (script.status, script.body) == (200, handle.read())
    assert script.headers["Cache-Control"] == "public, max-age=3600"  # nginx.conf's /static/ location
    assert http_get("/static/chat/missing.js").status == 404

    # What nginx proxies, a Daphne logs; none of the above was.
    proxied = "/api/rooms/static-control-%s/messages/" % uuid.uuid4().hex[:8]
    assert http_get(proxied).status == 404
    assert '"GET %s" 404' % proxied in access_line(stack, proxied)
    assert "/static/" not in daphne_logs(stack)


def test_nginx_runs_the_rendered_configuration_without_complaint(stack):
    complaints = [line for line in stack.group.logs(lines=1000).splitlines() + stack.nginx.log("error").splitlines()
                  if any(level in line for level in ("[emerg]", "[alert]", "[crit]"))]
    assert complaints == []


def test_daphne_sees_the_client_nginx_saw_never_a_forged_one(stack, http_get):
    path = "/api/rooms/forged-%s/messages/" % uuid.uuid4().hex[:8]
    assert http_get(path, headers={"X-Forwarded-For": "203.0.113.9"}).status == 404
    line = access_line(stack, path)
    # nginx sets X-Forwarded-For to the address it saw, and Daphne
    # (--proxy-headers) takes the client from it: port 0, as Daphne has no
    # X-Forwarded-Port. Without the flag the client would be nginx, with its port.
    assert line.startswith("127.0.0.1:0 "), line


def test_nginx_caps_the_connections_of_one_address(stack, join, new_room):
    label = new_room("capped")
    held = [join(label) for _ in range(PER_ADDRESS)]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        join(label)
    assert refused.value.status_code == 429
    held.pop().close()

    def joined_once_nginx_saw_it_close():
        try:
            return join(label)
        except websocket.WebSocketBadStatusException as refused:
            assert refused.status_code == 429
            return None
    chat_round(wait_for(joined_once_nginx_saw_it_close, what="nginx to count the closed socket out"),
               held, label, "room for one more")


# --------------------------------------------------------------------------
# Faults


def test_a_killed_worker_is_restarted_and_chat_goes_on(stack, join, new_room):
    supervisord = stack.supervisord
    label = new_room("worker-killed")
    alice, bob = join(label), join(label)
    # A worker killed with a message in hand loses it, as does one that
    # Redis hands a message to in the instant it dies (the layer is
    # at-most-once), and enforce_ordering then holds that socket's later
    # frames for it: the page reconnects and resends (test_database_restart.py).
    # These raw sockets would not, so the kill comes when both have been
    # answered, and the next frame once the worker is gone.
    chat_round(alice, [bob], label, "before the kill")
    chat_round(bob, [alice], label, "before the kill, too")
    connections = redis_connections_of(supervisord.pids()["worker_00"], stack.redis_port)
    killed = supervisord.kill("worker_00")
    wait_for(lambda: "exited: worker_00 (terminated by SIGKILL; not expected)" in supervisord.log(),
             what="supervisord to see worker_00 die")
    # and Redis to see its connections close (it would hand a BLPOP's message to a dead one)
    wait_for(lambda: not connections & redis_client_addresses(stack.redis_port),
             what="Redis to drop worker_00's connections")
    chat_round(alice, [bob], label, "while worker_00 is down")
    supervisord.wait_running(replaced={"worker_00": killed})
    # The new worker_00 alone answers.
    supervisord.ctl("stop", "chat:worker_01")
    try:
        for number in range(3):
            chat_round(alice, [bob], label, "with the new worker_00 only %d" % number)
    finally:
        supervisord.ctl("start", "chat:worker_01")
    supervisord.wait_running()


def test_a_killed_daphne_loses_only_its_sockets_which_catch_up_on_the_other(stack, join, new_room):
    supervisord = stack.supervisord
    label = new_room("daphne-killed")
    held = sockets_on_each_daphne(stack, join, label, each=2)
    lost, kept = held["daphne_00"], held["daphne_01"]
    before = chat_round(kept[0], [s for s in everyone(held) if s is not kept[0]], label, "before the crash")

    killed = supervisord.kill("daphne_00")
    for sock in lost:
        wait_closed(sock)
    said = [chat_round(kept[0], kept[1:], label, "while they were away %d" % n) for n in range(3)]
    assert all(sock.connected for sock in kept)

    # The page reconnects through nginx with the last id it has: nginx passes
    # the refused connection to the Daphne that is up, which replays the rest.
    back = []
    for _ in lost:
        sock, daphne = join_and_locate(stack, join, label, after=before["id"])
        assert daphne == "daphne_01"
        assert sock.recv_many(len(said)) == said
        assert sock.recv_json() == {"type": "caught_up", "room": label, "last_id": said[-1]["id"]}
        back.append(sock)

    supervisord.wait_running(replaced={"daphne_00": killed})
    chat_round(back[0], kept + back[1:], label, "all back")


def test_workers_restarted_one_at_a_time_lose_no_message(stack, join, new_room):
    """The documented roll-out: each worker in turn finishes what it holds
    and stops while the other serves; the room hears every message once, in order."""
    supervisord = stack.supervisord
    label = new_room("rolling")
    alice, bob = join(label), join(label)
    logged = len(supervisord.log())
    for worker in supervisord.workers:
        restart = threading.Thread(target=supervisord.ctl, args=("restart", "chat:%s" % worker))
        restart.start()
        number = 0
        while restart.is_alive() or number < 5:
            chat_round(alice, [bob], label, "during the restart of %s: %d" % (worker, number))
            number += 1
            time.sleep(0.1)  # pacing the rounds over the restart, not waiting for anything
        restart.join()
    supervisord.wait_running()
    bob.assert_silent()  # nothing more than each message once...
    chat_round(alice, [bob], label, "after the restarts")  # ...from workers that serve
    restarts = supervisord.log()[logged:]
    for worker in supervisord.workers:
        assert "stopped: %s (exit status 0)" % worker in restarts
    assert "exited:" not in restarts and "SIGKILL" not in restarts, restarts
