"""
The room page (chat/static/chat/chat.js) in a real headless Chromium
keeping the rules of docs/protocol.md ("What a client must do") that only
show over time, against the worker-mode stack with runpresence and the
shipped per-socket budget (5 frames a second, 20 at once):

- a message typed while the socket is down goes out on the new socket only
  after its catch-up's end frame;
- a room closed to the page (`forbidden`, close 4403) stops it for good:
  it says so, gives the message back and never reconnects;
- 25 messages queued while down go out paced (10 at once, then one per
  250 ms): none is refused `rate_limited`, each is saved once, in order;
- a message whose broadcast never came shows once presence tells the
  room's `head`.

The browser, the page per person and its checks (no JavaScript error) are
test_page.py's fixtures; the stack is this module's, for its budget.
"""
import json

import pytest
from playwright.sync_api import expect

from tests.support.chat_stack import chat_stack, start_daphne

from .actors import manage
from .test_page import browser, open_page, send  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

SEND_BURST, SEND_EVERY = 10, 250  # ms; docs/protocol.md, "Pacing resends"
TIMER_SLACK = 50                  # ms a browser's interval timer may fire early after firing late
BACK_WITHIN = 45_000              # ms: Daphne's restart, then the page's back-off (up to 15 s plus half)
FIRST_RETRY = 750                 # ms: the first back-off, 0.5 s plus up to half of it
FORBIDDEN = "You may no longer enter this room; nothing was saved."  # chat/rooms.py's detail

# The page's WebSockets as the page itself uses them, in window.__wire:
# each socket's creation, open, close (with its code), every frame it sends
# and every frame handed to the page (when it is handed over). Setting
# window.__holdEndFrame to some ms hands each catch-up's end frame over that
# much later than it came: a slow catch-up.
RECORD_WIRE = """(() => {
  const Native = window.WebSocket;
  const wire = [];
  let count = 0;
  window.__wire = wire;
  window.__holdEndFrame = 0;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const socket = count++;
      this.__note = (kind, extra) => wire.push(
        Object.assign({ socket: socket, kind: kind, t: performance.now() }, extra));
      this.__note("created");
      this.addEventListener("open", () => this.__note("open"));
      this.addEventListener("close", (event) => this.__note("close", { code: event.code }));
    }
    send(data) {
      this.__note("sent", { data: String(data) });
      super.send(data);
    }
    get onmessage() {
      return this.__onmessage || null;
    }
    set onmessage(handler) {
      this.__onmessage = handler;
      super.onmessage = (event) => {
        const handOver = () => {
          this.__note("received", { data: String(event.data) });
          handler.call(this, event);
        };
        const hold = window.__holdEndFrame;
        if (hold && /"type": ?"caught_up"|"code": ?"catchup_truncated"/.test(String(event.data))) {
          setTimeout(handOver, hold);
        } else {
          handOver();
        }
      };
    }
  };
})();"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chat-stack-page-protocol")
    # The shipped per-socket budget (README, CHAT_SOCKET_FRAME_*), which the
    # pace must stay under; the test budgets would take any burst.
    with chat_stack(workdir, workers=2, DATABASE_URL="sqlite:///%s" % (workdir / "page-protocol.sqlite3"),
                    CHAT_SOCKET_FRAME_RATE=5, CHAT_SOCKET_FRAME_BURST=20) as running:
        running.start_presence()
        yield running


def record_wire(page):
    page.add_init_script(RECORD_WIRE)


def wire(page):
    """The recorded events, frames decoded: [{socket, kind, t, frame?, code?}]."""
    events = page.evaluate("() => window.__wire")
    for event in events:
        if "data" in event:
            event["frame"] = json.loads(event.pop("data"))
    return events


def is_end_frame(frame):
    return frame.get("type") == "caught_up" or frame.get("code") == "catchup_truncated"


def daphne_down(stack, page):
    stack.daphne.kill()  # SIGKILL: the page's socket drops
    expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")


def daphne_back(stack, page):
    stack.daphne, _ = start_daphne(stack.group, stack.env, name="daphne-restarted", port=stack.http_port)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=BACK_WITHIN)


def shown(page):
    """(id, text) of every message on the page, top to bottom."""
    return [(int(number), text) for number, text in page.locator("#transcript li").evaluate_all(
        "items => items.map(item => [item.dataset.id, item.querySelector('.text').textContent])")]


def test_a_message_typed_while_down_is_sent_only_after_the_catch_up_ends(stack, open_page, new_room, db):
    label = new_room("page-end-frame")
    page = open_page("/%s/" % label, setup=record_wire)
    page.fill("#handle", "Pat")
    send(page, "before")
    expect(page.locator("#transcript .text")).to_have_text(["before"])

    daphne_down(stack, page)
    db.seed_messages(label, ["missed-1", "missed-2"])  # said meanwhile: the catch-up brings them
    send(page, "while down")
    expect(page.locator("#pending li")).to_contain_text("will be sent when the connection is back")
    # The end frame comes well after the catch-up's messages, so a page that
    # sent on open (or on the catch-up's first frames) would be seen doing so.
    page.evaluate("() => { window.__holdEndFrame = 1500; }")
    daphne_back(stack, page)

    texts = ["before", "missed-1", "missed-2", "while down"]
    expect(page.locator("#transcript .text")).to_have_text(texts, timeout=BACK_WITHIN)
    expect(page.locator("#pending li")).to_have_count(0)
    ids = [number for number, _ in shown(page)]
    assert ids == sorted(set(ids))
    assert [row["message"] for row in db.messages(label)] == texts  # saved once, after what it missed

    # On every socket, nothing was sent before that socket's end frame.
    events = wire(page)
    early = []
    for socket in sorted({event["socket"] for event in events}):
        ended = False
        for event in (event for event in events if event["socket"] == socket):
            if event["kind"] == "received" and is_end_frame(event["frame"]):
                ended = True
            elif event["kind"] == "sent" and not ended:
                early.append((socket, event["frame"]["message"]))
    assert early == []
    [resent] = [event for event in events if event["kind"] == "sent" and event["frame"]["message"] == "while down"]
    assert resent["socket"] > 0  # on a socket opened after the drop


def test_a_room_closed_to_the_page_stops_it_without_a_reconnect(stack, open_page, new_room, db):
    label = new_room("page-forbidden")
    handshakes = []

    def watch(page):
        record_wire(page)
        page.on("websocket", lambda socket: handshakes.append(socket))

    page = open_page("/%s/" % label, setup=watch)
    page.fill("#handle", "Pat")
    send(page, "while it was public")
    expect(page.locator("#transcript .text")).to_have_text(["while it was public"])

    manage(stack, "setroomaccess", label, "staff")
    send(page, "after the change")
    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "closed")
    expect(status).to_have_text(FORBIDDEN)
    expect(page.locator("#composer-error")).to_have_text(FORBIDDEN)
    expect(page.locator("#message")).to_have_value("after the change")  # given back, not lost
    expect(page.locator("#pending li")).to_have_count(0)
    events = wire(page)
    last_sent = [event["frame"] for event in events if event["kind"] == "sent"][-1]
    assert last_sent["message"] == "after the change"
    assert [(event["frame"]["code"], event["frame"].get("client_id")) for event in events
            if event["kind"] == "received" and event["frame"]["type"] == "error"] == \
        [("forbidden", last_sent["client_id"])]
    assert [event["code"] for event in events if event["kind"] == "close"] == [4403]

    # A reconnect would start within the first back-off; wait four of them.
    page.wait_for_timeout(4 * FIRST_RETRY)
    assert len(handshakes) == 1 and handshakes[0].is_closed()
    assert {event["socket"] for event in wire(page)} == {0}
    expect(status).to_have_attribute("data-state", "closed")
    assert [row["message"] for row in db.messages(label)] == ["while it was public"]


def test_messages_queued_while_down_are_resent_at_the_documented_pace(stack, open_page, new_room, db):
    label = new_room("page-pace")
    page = open_page("/%s/" % label, setup=record_wire)
    page.fill("#handle", "Pat")
    daphne_down(stack, page)
    texts = ["queued-%02d" % number for number in range(1, 26)]
    for text in texts:
        send(page, text)
    expect(page.locator("#pending li")).to_have_count(len(texts))
    daphne_back(stack, page)

    expect(page.locator("#transcript .text")).to_have_text(texts, timeout=BACK_WITHIN)
    expect(page.locator("#pending li")).to_have_count(0)
    assert [row["message"] for row in db.messages(label)] == texts

    events = wire(page)
    sent = [event for event in events if event["kind"] == "sent"]
    # Each went once: a refused one would have gone again.
    assert [event["frame"]["message"] for event in sent] == texts
    assert [event["frame"] for event in events if event["kind"] == "received"
            and event["frame"]["type"] == "error"] == []
    # 10 at once, then one per 250 ms: between any two sends, at most 10
    # more than the pacer's ticks in between.
    times = [event["t"] for event in sent]
    too_fast = [(first, last, round(times[last] - times[first]))
                for first in range(len(times)) for last in range(first + 1, len(times))
                if last - first + 1 > SEND_BURST + 1 + (times[last] - times[first] + TIMER_SLACK) // SEND_EVERY]
    assert too_fast == [], ["%.0f" % (t - times[0]) for t in times]


def test_a_message_whose_broadcast_never_came_shows_once_presence_tells_the_head(stack, open_page, new_room, db):
    label = new_room("page-head")
    handshakes, fetched = [], []

    def watch(page):
        page.on("websocket", lambda socket: handshakes.append(socket))
        page.on("request", lambda request: "/api/rooms/" in request.url and fetched.append(request.url))

    page = open_page("/%s/" % label, setup=watch)
    expect(page.locator("#presence")).to_be_visible()  # runpresence tells this room

    db.seed_messages(label, ["saved, never broadcast"])  # what a page sees when its copy was lost
    [saved] = db.messages(label)
    # Presence tells the head within about 3 s of the room falling quiet;
    # the page waits 2 s for crossing broadcasts, then fetches.
    expect(page.locator("#transcript .text")).to_have_text(["saved, never broadcast"], timeout=15_000)
    assert shown(page) == [(saved["id"], "saved, never broadcast")]
    assert [url.split("?", 1)[1] for url in fetched] == ["limit=500&after=0"]
    assert len(handshakes) == 1  # not a reconnect's catch-up


def test_a_message_typed_after_the_room_closed_stays_in_the_box(stack, open_page, new_room):
    label = new_room("page-closed-draft")
    page = open_page("/%s/" % label)
    page.fill("#handle", "Pat")
    manage(stack, "setroomaccess", label, "staff")
    send(page, "knock knock")
    expect(page.locator("#status")).to_have_attribute("data-state", "closed")
    expect(page.locator("#message")).to_have_value("knock knock")
    # Typed once the page has said the room is closed: refused at once, and
    # kept in the box like every refused message (composer.js: "a draft is
    # never lost").
    page.fill("#message", "typed after the close")
    page.press("#message", "Enter")
    expect(page.locator("#composer-error")).to_have_text(FORBIDDEN)
    expect(page.locator("#message")).to_have_value("typed after the close")
