"""
Which WebSocket handshakes are accepted (sockets to a room they may enter),
turned away for good (a room path they may not use: accepted only to be
told why in an error frame, then closed with that error's 4xxx close code)
and refused with 403 (every other path).
"""
import json
import struct

import pytest
import websocket

from .conftest import WS_TIMEOUT, assert_error_frame, assert_message_frame, chat_path, unique_label

pytestmark = pytest.mark.integration


def assert_refused_with_403(connect, path):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(path)
    assert refused.value.status_code == 403, refused.value


def until_closed(ws, timeout=WS_TIMEOUT):
    """Every text frame a socket gets until the server closes it, and the close code."""
    ws.settimeout(timeout)
    frames = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return frames, struct.unpack("!H", data[:2])[0]
        if opcode == websocket.ABNF.OPCODE_TEXT:
            frames.append(json.loads(data.decode("utf-8")))


def assert_turned_away(ws, code, close_code):
    """One error frame saying why, nothing else, then the close with its code."""
    frames, closed_with = until_closed(ws)
    assert len(frames) == 1 and closed_with == close_code, (frames, closed_with)
    return assert_error_frame(frames[0], code)


def test_socket_to_an_existing_room_is_accepted(new_room, join):
    label = new_room("accepted")
    sock = join(label)
    assert sock.connected
    sock.say("alice", "hi")
    assert_message_frame(sock.recv_json(), label, "alice", "hi")


def test_socket_to_a_room_that_does_not_exist_is_told_room_not_found_and_closed(connect, db):
    label = unique_label("nosuchroom")
    assert_turned_away(connect(chat_path(label), after=0).ws, "room_not_found", 4404)
    assert db.rooms(label) == []  # a socket never creates a room


def test_socket_is_accepted_once_the_room_page_was_visited(connect, http_get):
    label = unique_label("latecomer")
    assert_turned_away(connect(chat_path(label)).ws, "room_not_found", 4404)
    assert http_get("/%s/" % label).status == 200
    sock = connect(chat_path(label))
    sock.say("late", "here now")
    assert_message_frame(sock.recv_json(), label, "late", "here now")


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
    ws = websocket.create_connection(url, timeout=10, **options)
    if not accepted:
        try:
            assert_turned_away(ws, "origin_not_allowed", 4406)
        finally:
            ws.close()
        return
    try:
        ws.send('{"handle": "h", "message": "from %s"}' % origin)
        assert '"from %s"' % origin in ws.recv()
    finally:
        ws.close()


def test_refused_handshakes_leave_the_workers_running(stack, connect, new_room, join):
    assert_refused_with_403(connect, "/elsewhere/")
    assert_turned_away(connect(chat_path(unique_label("missing"))).ws, "room_not_found", 4404)
    assert all(worker.alive() for worker in stack.workers)
    label = new_room("after-refusals")
    sock = join(label)
    sock.say("alice", "fine")
    assert_message_frame(sock.recv_json(), label, "alice", "fine")
