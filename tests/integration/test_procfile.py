"""
The Procfile as Heroku runs it, and as docs/deployment.md runs it on a
laptop, under honcho: the `release` line (migrate and collectstatic, with
the project's venv although it is not on PATH), then `web` on $PORT, the
split worker pools
(`socketworker` and `backgroundworker`, README "Worker pools"; `worker` is
the same deploy/worker.sh that supervisord runs) and `presence`, against
PostgreSQL and Redis. Chat, the history API and a static file (WhiteNoise,
in the workers) all work through the web process.
"""
import os
import sys

import pytest
import websocket

from tests.support.chat_stack import chat_environment
from tests.support.processes import REPO_ROOT, ProcessGroup, http_status, start_listening, tcp_connectable, venv_program
from tests.support.redis_server import start_redis

from .conftest import Socket, assert_message_frame, http_request

pytestmark = pytest.mark.integration

PROCFILE = os.path.join(REPO_ROOT, "Procfile")


@pytest.fixture(scope="module")
def heroku(tmp_path_factory, postgres_server):
    with ProcessGroup(tmp_path_factory.mktemp("procfile")) as group:
        _, redis_port = start_redis(group)
        env = chat_environment(group.workdir, redis_port,
                               DATABASE_URL=postgres_server.create_database("chat_heroku"))
        # As in a shell where the venv is not activated: every line must find
        # the project's Python itself (deploy/lib.sh), not a `python` on PATH
        # (the machine's has no Django). Heroku has no venv: its Python is first on PATH.
        venv_bin = os.path.dirname(sys.executable)
        env["PATH"] = os.pathsep.join(entry for entry in env.get("PATH", "").split(os.pathsep)
                                      if entry and os.path.realpath(entry) != os.path.realpath(venv_bin))
        if os.path.realpath(sys.prefix) != os.path.realpath(os.path.join(REPO_ROOT, ".venv")):
            env["VENV"] = sys.prefix  # the tests run from a venv elsewhere: name it
        honcho = venv_program("honcho")
        group.run("honcho-release", [honcho, "-f", PROCFILE, "start", "release"], env=env)

        def dynos_argv(port):  # web listens on $PORT, honcho's -p
            return [honcho, "-f", PROCFILE, "start", "-p", str(port),
                    "-c", "web=1,socketworker=1,backgroundworker=1,presence=1",
                    "web", "socketworker", "backgroundworker", "presence"]

        # Another port if the free one was taken meanwhile (Daphne then logs
        # it and keeps running without listening).
        dynos, port = start_listening(
            group, "honcho", dynos_argv, lambda port: tcp_connectable("127.0.0.1", port)
            and http_status("127.0.0.1", port, "/") == 200, 90, env=env)
        yield group, dynos, port


def test_release_migrated_and_web_and_split_worker_pools_serve_chat(heroku):
    group, dynos, port = heroku
    log = dynos.log_text()
    for dyno in ["web.1", "socketworker.1", "backgroundworker.1", "presence.1"]:
        assert dyno in log, log
    release = open(os.path.join(group.workdir, "honcho-release.log")).read()
    assert "Apply all migrations" in release and "static files copied" in release, release

    base = "http://127.0.0.1:%d" % port
    label = "heroku-room"
    assert http_request(base + "/%s/" % label).status == 200
    alice = Socket(websocket.create_connection("ws://127.0.0.1:%d/chat/%s/" % (port, label), timeout=10), "alice")
    bob = Socket(websocket.create_connection("ws://127.0.0.1:%d/chat/%s/" % (port, label), timeout=10), "bob")
    try:
        # The presence process tells the room who is there.
        presence = {"type": "presence", "room": label, "users": [], "guests": [], "anonymous": 2, "head": None}  # no message yet
        for sock in (alice, bob):
            sock.skip = ()
            while sock.recv_json(timeout=10) != presence:
                pass
            sock.skip = ("presence",)
        alice.say("alice", "hello from a dyno")
        frame = assert_message_frame(alice.recv_json(), label, "alice", "hello from a dyno")
        assert bob.recv_json() == frame
    finally:
        alice.close()
        bob.close()

    history = http_request(base + "/api/rooms/%s/messages/" % label).json()
    assert [message["message"] for message in history["messages"]] == ["hello from a dyno"]
    static = http_request(base + "/static/chat/chat.js")
    assert static.status == 200 and b"client_id" in static.body
    assert dynos.alive()
