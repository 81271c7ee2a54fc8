"""
@mentions over real sockets: /notifications/ refuses anonymous users; a
signed-in user's message that mentions another user reaches that user's
notification sockets, and not the sender's, nor a user who may not enter
the room.
"""
import json

import pytest
import websocket

from .actors import manage, room_with_access, signed_up

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]


def notifications(stack, browser):
    return websocket.create_connection(stack.ws_url("/notifications/"), timeout=10, header=[browser.cookie_header()])


def assert_silent(ws, window=1.5):
    ws.settimeout(window)
    with pytest.raises(websocket.WebSocketTimeoutException):
        ws.recv()


def test_anonymous_sockets_are_refused_at_the_handshake(stack):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(stack.ws_url("/notifications/"), timeout=10)
    assert refused.value.status_code == 403


def test_a_mention_reaches_the_mentioned_users_sockets_only(stack, new_room):
    sender, sender_name = signed_up(stack)
    mentioned, mentioned_name = signed_up(stack)
    bystander, bystander_name = signed_up(stack)
    label = new_room("mentions")
    sockets = [notifications(stack, browser) for browser in (sender, mentioned, mentioned, bystander)]
    chat = sender.socket(label)
    try:
        text = "hi @%s, and @%s: look" % (mentioned_name.upper(), sender_name)
        chat.send(json.dumps({"message": text}))
        saved = json.loads(chat.recv())
        for ws in sockets[1:3]:  # both of the mentioned user's sockets
            assert json.loads(ws.recv()) == {"type": "mention", "room": label, "message_id": saved["id"],
                                             "from": sender_name, "message": text}
        assert_silent(sockets[0])  # not the sender, who mentioned themself too
        assert_silent(sockets[3])

        # Not a mention: an e-mail address, a longer name, a name that does not exist.
        for text in ("mail x@%s" % mentioned_name, "@%sx" % mentioned_name, "@nobody_at_all"):
            chat.send(json.dumps({"message": text}))
            chat.recv()
        assert_silent(sockets[1])

        # Each silent socket is served: a mention meant for it is its next frame.
        text = "@%s and @%s" % (bystander_name, mentioned_name)
        chat.send(json.dumps({"message": text}))
        saved = json.loads(chat.recv())
        for ws in sockets[1:]:
            assert json.loads(ws.recv()) == {"type": "mention", "room": label, "message_id": saved["id"],
                                             "from": sender_name, "message": text}
        back = mentioned.socket(label)
        sockets.append(back)
        text = "@%s back at you" % sender_name
        back.send(json.dumps({"message": text}))
        saved = json.loads(back.recv())
        assert json.loads(sockets[0].recv()) == {"type": "mention", "room": label, "message_id": saved["id"],
                                                 "from": mentioned_name, "message": text}
    finally:
        for ws in sockets + [chat]:
            ws.close()


def test_no_mention_from_a_room_the_user_may_not_enter(stack, new_room):
    staff_room = room_with_access(stack, "staff")
    sender, sender_name = signed_up(stack)
    manage(stack, "shell", "-c", "from django.contrib.auth.models import User; "
                                 "User.objects.filter(username=%r).update(is_staff=True)" % sender_name)
    member, member_name = signed_up(stack)
    ws = notifications(stack, member)
    chat = sender.socket(staff_room)
    try:
        chat.send(json.dumps({"message": "@%s cannot read this" % member_name}))
        chat.recv()
        assert_silent(ws)
        # Silent, and served: a mention from a room the member may enter is its next frame.
        open_room = new_room("mentions-open")
        elsewhere = sender.socket(open_room)
        text = "@%s read this" % member_name
        elsewhere.send(json.dumps({"message": text}))
        saved = json.loads(elsewhere.recv())
        elsewhere.close()
        assert json.loads(ws.recv()) == {"type": "mention", "room": open_room, "message_id": saved["id"],
                                         "from": sender_name, "message": text}
    finally:
        ws.close()
        chat.close()
