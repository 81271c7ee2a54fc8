"""
Room access levels over real sockets and HTTP: public (anyone), members
(signed-in users), staff (staff users), set with `manage.py setroomaccess`
or chosen at /new/?access=.
"""
import json
import subprocess
import sys
import uuid

import pytest
import websocket

from tests.support.processes import REPO_ROOT

from .actors import manage, room_with_access, signed_up
from .conftest import assert_error_frame, assert_message_frame, chat_path
from .test_handshake import assert_turned_away

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]


def staff_browser(stack):
    browser, name = signed_up(stack)
    manage(stack, "shell", "-c", "from django.contrib.auth.models import User; "
                                 "User.objects.filter(username=%r).update(is_staff=True)" % name)
    return browser, name


def test_anonymous_visitors_are_kept_out_of_a_members_room(stack, http_get, connect):
    label = room_with_access(stack, "members")
    ws = websocket.create_connection(stack.ws_url(chat_path(label)), timeout=10)
    try:
        assert_turned_away(ws, "forbidden", 4403)
    finally:
        ws.close()
    page = http_get("/%s/" % label)
    assert (page.status, page.headers["Location"]) == (302, "/accounts/login/?next=/%s/" % label)
    api = http_get("/api/rooms/%s/messages/" % label)
    assert api.status == 403
    assert_error_frame(api.json(), "forbidden")
    browser, name = signed_up(stack)
    assert browser.request("/%s/" % label)[0] == 200
    ws = browser.socket(label)
    try:
        ws.send('{"message": "members only"}')
        assert_message_frame(json.loads(ws.recv()), label, name, "members only", user=True)
    finally:
        ws.close()
    # The room list: the room has a message now; members see it, anonymous visitors do not.
    assert label in browser.request("/")[2]
    assert label not in http_get("/").text


def test_only_staff_enter_a_staff_room(stack, http_get):
    label = room_with_access(stack, "staff")
    member, _ = signed_up(stack)
    assert member.request("/%s/" % label)[0] == 403
    assert member.request("/api/rooms/%s/messages/" % label)[0] == 403
    ws = member.socket(label)
    try:
        assert_turned_away(ws, "forbidden", 4403)
    finally:
        ws.close()

    staff, _ = staff_browser(stack)
    assert staff.request("/%s/" % label)[0] == 200
    ws = staff.socket(label)
    try:
        ws.send('{"message": "staff only"}')
        json.loads(ws.recv())
    finally:
        ws.close()
    # The room list: staff see the room, now that it has a message; members do not.
    assert label in staff.request("/")[2]
    assert label not in member.request("/")[2]


def test_new_rooms_with_an_access_level(stack, http_get, db):
    assert http_get("/new/?access=members").headers["Location"].startswith("/accounts/login/")
    assert http_get("/new/?access=everyone").status == 400
    member, _ = signed_up(stack)
    status, headers, _ = member.request("/new/?access=members")
    assert status == 302
    label = headers["Location"].strip("/")
    assert db.query("SELECT access FROM chat_room WHERE label = ?", (label,)) == [{"access": "members"}]
    assert member.request("/new/?access=staff")[0] == 403
    staff, _ = staff_browser(stack)
    status, headers, _ = staff.request("/new/?access=staff")
    label = headers["Location"].strip("/")
    assert db.query("SELECT access FROM chat_room WHERE label = ?", (label,)) == [{"access": "staff"}]


def test_setroomaccess_refuses_what_is_not_a_label_or_a_level(stack):
    for args in (["not a label!", "members"], ["room-%s" % uuid.uuid4().hex[:6], "everyone"]):
        result = subprocess.run([sys.executable, "manage.py", "setroomaccess"] + args, cwd=REPO_ROOT,
                                env=stack.env, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0 and result.stderr.strip(), result
