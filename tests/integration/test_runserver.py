"""
The README's first command as a developer runs it: `manage.py runserver`
with no Redis (the in-memory layer: Daphne and worker threads in one
process) and SQLite. Pages, chat between two sockets, errors, and the
history API all work there too.
"""
import os
import sys

import pytest
import websocket

from tests.support.processes import REPO_ROOT, ProcessGroup, http_status, start_listening

from .conftest import Socket, assert_error_frame, assert_message_frame, http_request, unique_label

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def runserver(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("runserver")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "REDIS_", "DATABASE_", "CHANNEL_LAYER_", "CHAT_"))}
    # As `make run` starts it: DEBUG on, and nothing else set.
    env.update(DJANGO_DEBUG="1", DATABASE_URL="sqlite:///%s" % (workdir / "dev.sqlite3"), PYTHONUNBUFFERED="1")
    manage = os.path.join(REPO_ROOT, "manage.py")
    with ProcessGroup(workdir, env=env) as group:
        group.run("migrate", [sys.executable, manage, "migrate", "--noinput"])
        _, port = start_listening(
            group, "runserver", lambda port: [sys.executable, manage, "runserver", "--noreload", "127.0.0.1:%d" % port],
            lambda port: http_status("127.0.0.1", port, "/") == 200, timeout=60)
        yield "127.0.0.1:%d" % port


def test_chat_works_on_runserver_with_no_services(runserver):
    label = unique_label("dev")
    assert http_request("http://%s/%s/" % (runserver, label)).status == 200
    url = "ws://%s/chat/%s/" % (runserver, label)
    alice = Socket(websocket.create_connection(url, timeout=10), url)
    bob = Socket(websocket.create_connection(url, timeout=10), url)
    try:
        alice.send_json({"handle": "alice", "message": "x" * 2001, "client_id": "long"})
        assert_error_frame(alice.recv_error(), "message_too_long", client_id="long")
        texts = ["one", "two", "three"]
        for text in texts:
            alice.say("alice", text)
        for sock in (alice, bob):
            frames = sock.recv_many(len(texts))
            for frame, text in zip(frames, texts):
                assert_message_frame(frame, label, "alice", text)
    finally:
        alice.close()
        bob.close()
    history = http_request("http://%s/api/rooms/%s/messages/" % (runserver, label)).json()
    assert [message["message"] for message in history["messages"]] == texts
