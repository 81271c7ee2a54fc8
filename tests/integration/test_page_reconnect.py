"""
The room page (chat/static/chat/chat.js) in a real headless Chromium,
against the worker-mode stack, when its server goes away:
- Daphne killed and restarted: the page shows it is reconnecting, comes
  back, and shows what another Daphne's socket said meanwhile, once, in
  order, without a reload;
- a server that accepts each socket and closes it at once: the page keeps
  backing off instead of reconnecting every half second (a reset of the
  back-off on open would hammer such a server).
"""
import time

import pytest
import websocket

from tests.support.browser import ConsoleErrors, chromium
from tests.support.chat_stack import chat_stack, start_daphne

from .conftest import Socket, assert_message_frame, chat_path

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chat-stack-page")
    with chat_stack(workdir, workers=2, DATABASE_URL="sqlite:///%s" % (workdir / "page.sqlite3")) as running:
        running.second_daphne, running.second_port = start_daphne(running.group, running.env, name="daphne-2")
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.errors = ConsoleErrors(page)
    yield page
    context.close()


def transcript(page):
    return page.locator("#transcript li").evaluate_all(
        "items => items.map(item => item.dataset.id + ' ' + item.querySelector('.text').textContent)")


def messages_shown(page):
    return [line.split(" ", 1)[1] for line in transcript(page)]


def test_a_restarted_daphne_the_page_reconnects_and_catches_up(stack, page, new_room):
    label = new_room("page")
    page.goto(stack.url("/%s/" % label))
    status = page.locator("#status")
    status.filter(has_text="Connected").wait_for(timeout=15000)

    page.fill("#handle", "pat")
    page.fill("#message", "before")
    page.press("#message", "Enter")
    page.locator("#transcript li", has_text="before").wait_for(timeout=10000)

    stack.daphne.kill()  # SIGKILL: the page's socket drops
    page.locator("#status[data-state=reconnecting]").wait_for(timeout=10000)
    assert "reconnecting" in status.text_content()

    other_url = "ws://127.0.0.1:%d%s" % (stack.second_port, chat_path(label))
    other = Socket(websocket.create_connection(other_url, timeout=10), other_url)
    try:
        for text in ("while-away-1", "while-away-2", "while-away-3"):
            other.say("sam", text)
            assert_message_frame(other.recv_json(), label, "sam", text)
    finally:
        other.close()

    stack.daphne, _ = start_daphne(stack.group, stack.env, name="daphne-restarted", port=stack.http_port)
    page.locator("#status[data-state=connected]").wait_for(timeout=30000)
    page.locator("#transcript li", has_text="while-away-3").wait_for(timeout=10000)
    assert messages_shown(page) == ["before", "while-away-1", "while-away-2", "while-away-3"]
    ids = [int(line.split(" ")[0]) for line in transcript(page)]
    assert ids == sorted(set(ids))
    # Chromium logs each refused connection while Daphne is down; nothing else.
    assert [error for error in page.errors if "ERR_CONNECTION_REFUSED" not in error] == []


def test_a_server_that_closes_each_socket_at_once_is_not_hammered(stack, page, new_room):
    label = new_room("slam")
    attempts, routes = [], []

    def accept(route):
        # Not connected to the server: the page's socket opens (onopen runs).
        attempts.append(time.monotonic())
        routes.append(route)

    page.route_web_socket("**/chat/**", accept)
    page.goto(stack.url("/%s/" % label))
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        page.wait_for_timeout(50)  # lets Playwright deliver events
        while routes:
            routes.pop().close()  # ...and is closed at once (not from inside the handler: it deadlocks)
    # Backing off 0.5, 1, 2, 4, 8 s (+ up to half again): at most 6 attempts
    # in 12 s. A back-off reset by each open would make about 16.
    assert 3 <= len(attempts) <= 6, ["%.1f" % (t - attempts[0]) for t in attempts]
