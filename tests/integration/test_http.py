"""HTTP through the channel layer: Daphne -> Redis -> runworker -> Django."""
import os
import re
import urllib.parse

import pytest

from .conftest import REPO_ROOT, assert_message_frame, unique_label

pytestmark = pytest.mark.integration


def api_path(label, query=""):
    return "/api/rooms/%s/messages/%s" % (urllib.parse.quote(label), query)


@pytest.fixture
def room_with_messages(new_room, join):
    """A room with five messages; returns (label, [frames])."""
    label = new_room("api")
    sender = join(label)
    frames = []
    for number in range(1, 6):
        sender.say("alice", "message %d" % number)
        frames.append(assert_message_frame(sender.recv_json(), label, "alice", "message %d" % number))
    return label, frames


def test_index_lists_a_room_someone_wrote_in_with_a_link_to_it(new_room, http_get, join):
    label = new_room("listed")
    assert 'href="/%s/"' % label not in http_get("/").text  # made by a visit: nobody's to list yet
    join(label).say_all("alice", ["hello"])
    response = http_get("/")
    assert response.status == 200
    assert response.headers.get_content_type() == "text/html"
    assert 'href="/%s/"' % label in response.text
    assert ">%s<" % label in response.text


def test_new_redirects_to_a_fresh_room_whose_page_then_loads(http_get, db):
    first, second = http_get("/new/"), http_get("/new/")
    assert first.status == second.status == 302
    location = first.headers["Location"]
    match = re.fullmatch(r"/([2-9a-hjkmnp-z]{4}(?:-[2-9a-hjkmnp-z]{4}){2})/", location)  # no i, l, 1, o, 0
    assert match, location
    assert location != second.headers["Location"]
    label = match.group(1)
    assert len(db.rooms(label)) == 1  # created by /new/ itself

    page = http_get(location)
    assert page.status == 200
    assert "<h1>%s</h1>" % label in page.text


def test_room_page_creates_the_room_on_first_visit(http_get, db):
    label = unique_label("firstvisit")
    assert db.rooms(label) == []
    response = http_get("/%s/" % label)
    assert response.status == 200
    assert "<h1>%s</h1>" % label in response.text
    assert 'data-room="%s"' % label in response.text
    assert len(db.rooms(label)) == 1
    assert http_get("/%s/" % label).status == 200
    assert len(db.rooms(label)) == 1  # not twice


def test_room_page_shows_messages_html_escaped(new_room, join, http_get):
    label = new_room("escape")
    sender = join(label)
    sender.say("<i>eve</i>", "<b>bold</b> & <script>alert(1)</script>")
    frame = sender.recv_json()
    page = http_get("/%s/" % label)
    assert page.status == 200
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;i&gt;eve&lt;/i&gt;" in page.text
    assert "<b>bold</b>" not in page.text and "<script>alert(1)" not in page.text
    assert 'data-last-id="%d"' % frame["id"] in page.text
    assert 'data-id="%d"' % frame["id"] in page.text


def test_room_page_shows_only_the_last_50_messages_oldest_first(new_room, join, http_get):
    label = new_room("fifty")
    sender = join(label)
    sender.say_all("alice", ["line-%02d." % number for number in range(55)])
    text = http_get("/%s/" % label).text
    shown = re.findall(r"line-(\d\d)\.", text)
    assert shown == ["%02d" % number for number in range(5, 55)]


def test_invalid_label_is_not_found(http_get):
    assert http_get("/bad%20label/").status == 404
    assert http_get("/%s/" % ("x" * 51)).status == 404


def test_api_returns_messages_after_an_id_ascending(room_with_messages, http_get):
    label, frames = room_with_messages
    response = http_get(api_path(label))
    assert response.status == 200
    assert response.headers.get_content_type() == "application/json"
    assert response.json() == {"room": label, "messages": frames}

    after_second = http_get(api_path(label, "?after=%d" % frames[1]["id"])).json()
    assert after_second["messages"] == frames[2:]
    assert http_get(api_path(label, "?after=%d" % frames[-1]["id"])).json()["messages"] == []


def test_api_limit_pages_through_the_room(room_with_messages, http_get):
    label, frames = room_with_messages
    page = http_get(api_path(label, "?after=%d&limit=2" % frames[0]["id"])).json()
    assert page["messages"] == frames[1:3]
    page = http_get(api_path(label, "?after=%d&limit=2" % frames[2]["id"])).json()
    assert page["messages"] == frames[3:5]
    assert http_get(api_path(label, "?limit=1")).json()["messages"] == frames[:1]
    assert http_get(api_path(label, "?limit=500")).json()["messages"] == frames


def test_api_limit_defaults_to_100(new_room, http_get, db):
    label = new_room("default-limit")
    db.seed_messages(label, ["m%d" % number for number in range(101)])
    messages = http_get(api_path(label)).json()["messages"]
    assert [message["message"] for message in messages] == ["m%d" % n for n in range(100)]


def test_api_unknown_room_is_404_json_and_does_not_create_it(http_get, db):
    label = unique_label("ghost")
    response = http_get(api_path(label))
    assert response.status == 404
    assert response.headers.get_content_type() == "application/json"
    body = response.json()
    assert body["type"] == "error" and body["code"] == "room_not_found" and body["detail"]
    assert db.rooms(label) == []


@pytest.mark.parametrize("query, parameter", [
    ("?after=abc", "after"),
    ("?after=-1", "after"),
    ("?after=%2B3", "after"),
    ("?after=1.5", "after"),
    ("?limit=0", "limit"),
    ("?limit=501", "limit"),
    ("?limit=ten", "limit"),
    ("?after=0&limit=-5", "limit"),
])
def test_api_bad_parameter_is_400_invalid_parameter(room_with_messages, http_get, query, parameter):
    label, _ = room_with_messages
    response = http_get(api_path(label, query))
    assert response.status == 400
    assert response.headers.get_content_type() == "application/json"
    body = response.json()
    assert set(body) == {"type", "code", "detail"}
    assert (body["type"], body["code"]) == ("error", "invalid_parameter")
    assert parameter in body["detail"]


def test_static_chat_js_is_served(http_get):
    response = http_get("/static/chat/chat.js")
    assert response.status == 200
    assert "javascript" in response.headers.get_content_type()
    with open(os.path.join(REPO_ROOT, "chat", "static", "chat", "chat.js"), "rb") as source:
        assert response.body == source.read()


def test_missing_static_file_is_404(http_get):
    assert http_get("/static/chat/missing.js").status == 404


def test_non_get_methods_are_refused_and_create_nothing(http, db):
    response = http("POST", "/new/", data=b"")
    # docs/protocol.md: unsafe methods without a CSRF token meet the CSRF
    # check (403) before the view's method check (405).
    assert response.status == 403, response
    assert "Location" not in response.headers
    assert http("HEAD", "/new/").status == 405
    label = unique_label("posted")
    assert http("POST", "/%s/" % label, data=b"").status == 403
    assert db.rooms(label) == []


def test_head_answers_200_through_daphne_and_a_worker_as_curl_I_and_load_balancers_check(new_room, http):
    label = new_room("head")
    for path in ["/", "/%s/" % label, "/api/rooms/%s/messages/" % label]:
        response = http("HEAD", path)
        assert (response.status, response.body) == (200, b""), path


def test_unknown_host_header_is_refused(http_get):
    response = http_get("/", headers={"Host": "evil.example.com"})
    assert response.status == 400


def test_healthz_is_a_raw_consumer_that_checks_the_database_and_the_layer(http_get, http):
    health = http_get("/healthz")
    assert (health.status, health.json()) == (200, {"status": "ok",
                                                    "checks": {"database": "ok", "channel_layer": "ok"}})
    assert health.headers["Content-Type"] == "application/json"
    assert health.headers["Cache-Control"] == "no-store"
    # Not a Django view: none of the middleware's headers.
    assert "X-Frame-Options" not in health.headers
    assert http_get("/healthz", method="HEAD").status == 200
    refused = http("POST", "/healthz", data=b"")
    assert (refused.status, refused.headers["Allow"]) == (405, "GET, HEAD")
