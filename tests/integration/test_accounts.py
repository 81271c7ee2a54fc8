"""
Signed-in users over real sockets: the session cookie of a sign-up carries
the user into the WebSocket handshake (channel_session_user_from_http), and
their messages carry their username, whatever handle the frame says.
"""
import json
import re

import pytest
import websocket

from .actors import Browser, room_with_access, signed_up
from .conftest import assert_message_frame, chat_path
from .test_handshake import assert_turned_away

pytestmark = pytest.mark.integration


def test_a_signed_in_users_messages_carry_their_username_whatever_the_frame_says(stack, new_room, join, http_get):
    browser, name = signed_up(stack)
    label = new_room("signed-in")
    status, _, page = browser.request("/%s/" % label)
    assert status == 200 and "Signed in as <strong id=\"username\">%s</strong>" % name in page

    ws = browser.socket(label)
    anonymous = join(label)
    try:
        ws.send(json.dumps({"handle": "admin", "message": "spoofed handle", "client_id": "s-1"}))
        frame = assert_message_frame(json.loads(ws.recv()), label, name, "spoofed handle", "s-1", user=True)
        assert anonymous.recv_json() == frame
        ws.send(json.dumps({"message": "no handle at all"}))
        assert_message_frame(json.loads(ws.recv()), label, name, "no handle at all", user=True)
        ws.send(json.dumps({"handle": ["not", "a", "string"], "message": "odd handle"}))
        assert_message_frame(json.loads(ws.recv()), label, name, "odd handle", user=True)
        # A resend by client_id is deduplicated by user too.
        ws.send(json.dumps({"handle": "someone else", "message": "spoofed handle", "client_id": "s-1"}))
        again = json.loads(ws.recv())
        assert again.get("id") == frame["id"], again
        assert [f["message"] for f in anonymous.recv_many(3)] == ["no handle at all", "odd handle", "spoofed handle"]

        anonymous.say(name, "an anonymous socket may type any name")
        typed = assert_message_frame(anonymous.recv_json(), label, name, "an anonymous socket may type any name")
        assert typed["user"] is False
    finally:
        ws.close()
    api = http_get("/api/rooms/%s/messages/" % label).json()["messages"]
    assert [(m["handle"], m["user"]) for m in api] == [(name, True)] * 3 + [(name, False)]


def test_a_session_key_in_the_query_is_refused(stack, new_room):
    browser, _ = signed_up(stack)
    label = new_room("session-key")
    session_key = next(c.value for c in browser.cookies if c.name == "sessionid")
    ws = websocket.create_connection(stack.ws_url(chat_path(label) + "?session_key=" + session_key), timeout=10)
    try:
        assert_turned_away(ws, "session_key_refused", 4400)
    finally:
        ws.close()


def test_sign_out_is_a_post(stack):
    browser, _ = signed_up(stack)
    assert browser.request("/accounts/logout/")[0] == 405
    status, _, page = browser.request("/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.request("/accounts/logout/", {"csrfmiddlewaretoken": token})[0] == 302
    assert "Sign in" in browser.request("/")[2]


def test_sign_in_with_the_account_made_at_sign_up(stack):
    browser, name = signed_up(stack)
    fresh = Browser(stack)
    status, _, page = fresh.form("/accounts/login/", username=name, password="wrong")
    assert status == 200 and "Please enter a correct username and password" in page
    status, headers, _ = fresh.form("/accounts/login/?next=/lobby/", username=name, password=browser.password)
    assert (status, headers.get("Location")) == (302, "/lobby/")
    assert "Signed in as" in fresh.request("/")[2]


def test_signing_up_from_a_members_room_leads_back_into_it(stack):
    label = room_with_access(stack, "members")
    browser = Browser(stack)
    status, headers, _ = browser.request("/%s/" % label)
    assert status == 302 and headers["Location"] == "/accounts/login/?next=/%s/" % label
    _, _, page = browser.request(headers["Location"])
    # Every way to the sign-up form from there keeps the way back.
    signup_links = re.findall(r'href="(/accounts/signup/[^"]*)">Sign up</a>', page)
    assert signup_links and set(signup_links) == {"/accounts/signup/?next=/%s/" % label}, signup_links
    password = "a long passphrase %s" % label
    status, headers, page = browser.form(signup_links[0], username="member_%s" % label[-8:],
                                         password1=password, password2=password)
    assert (status, headers.get("Location")) == (302, "/%s/" % label), page
    assert browser.request("/%s/" % label)[0] == 200
