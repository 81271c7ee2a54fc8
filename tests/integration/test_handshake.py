"""Which WebSocket handshakes are accepted (room sockets) and refused with 403 (everything else)."""
import pytest
import websocket

from .conftest import assert_message_frame, chat_path, unique_label

pytestmark = pytest.mark.integration


def assert_refused_with_403(connect, path):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(path)
    assert refused.value.status_code == 403, refused.value


def test_socket_to_an_existing_room_is_accepted(new_room, join):
    label = new_room("accepted")
    sock = join(label)
    assert sock.connected
    sock.say("alice", "hi")
    assert_message_frame(sock.recv_json(), label, "alice", "hi")


def test_socket_to_a_room_that_does_not_exist_is_refused_with_403(connect, db):
    label = unique_label("nosuchroom")
    assert_refused_with_403(connect, chat_path(label))
    assert db.rooms(label) == []  # a socket never creates a room


def test_socket_is_accepted_once_the_room_page_was_visited(connect, http_get):
    label = unique_label("latecomer")
    assert_refused_with_403(connect, chat_path(label))
    assert http_get("/%s/" % label).status == 200
    assert connect(chat_path(label)).connected


@pytest.mark.parametrize("path", [
    "/elsewhere/",
    "/",
    "/chat/",
    "/chat/lobby/extra/",
    "/chat/lobby",
    "/chat/bad%20label/",
    "/chat/%s/" % ("x" * 51),
])
def test_unrouted_path_is_refused_with_403(connect, http_get, path):
    # Make sure "lobby" exists, so a refusal is about the path, not the room.
    assert http_get("/lobby/").status == 200
    assert_refused_with_403(connect, path)


@pytest.mark.parametrize("origin, accepted", [
    ("http://evil.example", False),        # a page of another site
    ("http://localhost:8080", True),       # a page of ours (ALLOWED_HOSTS: 127.0.0.1, localhost)
    (None, True),                          # no Origin: a program, not a browser page
])
def test_only_pages_of_our_hosts_may_open_a_socket(stack, new_room, origin, accepted):
    # Through a real Daphne: channels.test sends headers in a form that
    # channels' own origin check cannot read.
    label = new_room("origin")
    options = {"origin": origin} if origin else {"suppress_origin": True}
    url = stack.ws_url(chat_path(label))
    if not accepted:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, timeout=10, **options)
        assert refused.value.status_code == 403
        return
    ws = websocket.create_connection(url, timeout=10, **options)
    try:
        ws.send('{"handle": "h", "message": "from %s"}' % origin)
        assert '"from %s"' % origin in ws.recv()
    finally:
        ws.close()


def test_refused_handshakes_leave_the_workers_running(stack, connect, new_room, join):
    for path in ("/elsewhere/", chat_path(unique_label("missing"))):
        assert_refused_with_403(connect, path)
    assert all(worker.alive() for worker in stack.workers)
    label = new_room("after-refusals")
    sock = join(label)
    sock.say("alice", "fine")
    assert_message_frame(sock.recv_json(), label, "alice", "fine")
