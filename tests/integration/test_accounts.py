"""
Signed-in users over real sockets: the session cookie of a sign-up carries
the user into the WebSocket handshake (channel_session_user_from_http), and
their messages carry their username, whatever handle the frame says.
"""
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
import uuid

import pytest
import websocket

from .conftest import _NoRedirects, assert_message_frame, chat_path

pytestmark = pytest.mark.integration


class Browser:
    """Cookies and CSRF tokens, as a browser keeps them."""

    def __init__(self, stack):
        self.stack = stack
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects)

    def request(self, path, data=None, method=None):
        request = urllib.request.Request(self.stack.url(path), method=method,
                                         data=urllib.parse.urlencode(data).encode() if data is not None else None)
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.headers, error.read().decode()

    def form(self, path, **fields):
        """GET the form for its CSRF token, then POST it."""
        status, _, page = self.request(path)
        assert status == 200, page
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        return self.request(path, dict(fields, csrfmiddlewaretoken=token))

    def cookie_header(self):
        return "Cookie: " + "; ".join("%s=%s" % (c.name, c.value) for c in self.cookies)

    def socket(self, label, query=""):
        url = self.stack.ws_url(chat_path(label) + query)
        return websocket.create_connection(url, timeout=10, header=[self.cookie_header()])


def signed_up(stack):
    browser = Browser(stack)
    name = "user_%s" % uuid.uuid4().hex[:8]
    password = "correct horse %s" % uuid.uuid4().hex
    status, headers, page = browser.form("/accounts/signup/?next=/", username=name,
                                         password1=password, password2=password)
    assert (status, headers.get("Location")) == (302, "/"), page
    browser.password = password
    return browser, name


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
        assert json.loads(ws.recv())["id"] == frame["id"]
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
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(stack.ws_url(chat_path(label) + "?session_key=" + session_key), timeout=10)
    assert refused.value.status_code == 403


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

