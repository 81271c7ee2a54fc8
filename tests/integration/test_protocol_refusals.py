"""
The ends of a room socket that docs/protocol.md tells a client to stop at,
and what an idle room tells it, on a stack of its own that runs
runpresence and shows an announcement (so a leak would have something to
leak):

- a socket turned away at its handshake hears one error frame and its
  close code, nothing else: it joins no Group, no presence, gets no
  announcement and no catch-up, and a frame it sends at once is not saved;
- a socket whose room closes to it (`forbidden`) or goes (`room_gone`) is
  told so, naming the frame, and closed; nothing is saved;
- presence frames carry the room's newest id (`head`), so a message whose
  broadcast never came is noticed in a room where nobody writes again.
"""
import json
import time

import pytest
import redis
import websocket

from tests.support.chat_stack import chat_stack

from .actors import room_with_access, shell, signed_up
from .conftest import Socket, assert_error_frame, chat_path
from .test_handshake import assert_turned_away, until_closed

pytestmark = [pytest.mark.integration, pytest.mark.one_database]

PRESENCE_WITHIN = 3  # the promise (two seconds), and one for a loaded machine
HEAD_WITHIN = 4      # a new head stands one look (a second), then goes out with the next


@pytest.fixture(scope="module")
def stack(tmp_path_factory, module_database):
    with chat_stack(tmp_path_factory.mktemp("protocol-refusals"),
                    DATABASE_URL=module_database("protocol_refusals")) as running:
        running.start_presence()
        shell(running, "from chat.models import Announcement; "
                       "Announcement.objects.create(text='Something to leak')")
        yield running


def group_size(stack, label):
    """How many reply channels the room's Group holds, read from Redis itself."""
    room_id = int(shell(stack, "from chat.models import Room; print(Room.objects.get(label=%r).pk)" % label))
    return redis.Redis(port=stack.redis_port).zcard("asgi::group:chat.room.%d" % room_id)


def presence_rows(db, label):
    return db.query("SELECT p.reply_channel FROM chat_presence p JOIN chat_room r ON r.id = p.room_id "
                    "WHERE r.label = ?", (label,))


def enter(join, label):
    """A socket in `label`, its announcement and presence frames skipped."""
    sock = join(label)
    sock.skip = ("presence", "announcement")
    return sock


def member_in(stack, label):
    """A signed-in member with a socket in `label`, past its announcement; (Socket, username)."""
    browser, name = signed_up(stack)
    sock = Socket(browser.socket(label), label)
    assert sock.recv_json()["type"] == "announcement"
    return sock, name


def test_a_socket_turned_away_joins_nothing_and_hears_nothing_but_why(stack, db):
    label = room_with_access(stack, "members")
    member, name = member_in(stack, label)
    member.say(name, "before")
    member.recv_message()
    # An anonymous socket asks for a catch-up and sends a frame before it can
    # have heard anything.
    ws = websocket.create_connection(stack.ws_url(chat_path(label) + "?after=0"), timeout=10)
    ws.send(json.dumps({"handle": "intruder", "message": "let me in", "client_id": "x-1"}))
    try:
        assert_turned_away(ws, "forbidden", 4403)  # no announcement, no catch-up, no presence
    finally:
        ws.close()
    # Proof the member's socket is served, and nothing of the intruder's frame reached it.
    member.say(name, "after")
    assert member.recv_message()["message"] == "after"
    assert [row["message"] for row in db.messages(label)] == ["before", "after"]
    assert group_size(stack, label) == 1
    assert len(presence_rows(db, label)) == 1
    member.close()


def test_a_socket_whose_room_closes_to_it_is_told_forbidden_and_closed(stack, new_room, join, db):
    label = new_room("closing")
    guest = enter(join, label)
    guest.say("guest", "while it was public")
    assert guest.recv_message()["message"] == "while it was public"
    shell(stack, "from chat.models import Room; Room.objects.filter(label=%r).update(access='members')" % label)
    guest.send_json({"handle": "guest", "message": "still here?", "client_id": "g-2"})
    frames, closed_with = until_closed(guest.ws)
    frames = [frame for frame in frames if frame["type"] != "presence"]
    assert closed_with == 4403 and len(frames) == 1, (frames, closed_with)
    assert_error_frame(frames[0], "forbidden", client_id="g-2")
    assert [row["message"] for row in db.messages(label)] == ["while it was public"]


def test_a_socket_whose_room_is_deleted_is_told_room_gone_and_closed(stack, new_room, join, db):
    label = new_room("deleted")
    sock = enter(join, label)
    sock.say("early", "made it")
    assert sock.recv_message()["message"] == "made it"
    shell(stack, "from chat.models import Room; Room.objects.filter(label=%r).delete()" % label)
    sock.send_json({"handle": "late", "message": "anyone?", "client_id": "l-1"})
    frames, closed_with = until_closed(sock.ws)
    frames = [frame for frame in frames if frame["type"] != "presence"]
    assert closed_with == 4410 and len(frames) == 1, (frames, closed_with)
    assert_error_frame(frames[0], "room_gone", client_id="l-1")
    assert db.rooms(label) == []


def test_an_idle_room_tells_its_newest_id_when_a_broadcast_was_lost(stack, new_room, join, db):
    label = new_room("head")
    sock = enter(join, label)
    first = sock.next_presence(PRESENCE_WITHIN)
    assert first["head"] is None, first
    # Saved without a broadcast: what a socket sees when its copy was lost.
    db.seed_messages(label, ["lost on its way"])
    [saved] = db.messages(label)
    deadline = time.monotonic() + HEAD_WITHIN
    while True:
        frame = sock.next_presence(max(0.1, deadline - time.monotonic()))
        if frame["head"] is not None:
            break
    assert frame == {"type": "presence", "room": label, "users": [], "guests": [], "anonymous": 1,
                     "head": saved["id"]}
    sock.say("me", "still served")
    assert sock.recv_message()["previous_id"] == saved["id"]  # and the chain agrees
