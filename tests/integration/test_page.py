"""
The pages in a real headless Chromium, as people use them, against the
worker-mode stack (Daphne + 2 runworkers + Redis + runpresence, SQLite):
one stack and one Chromium for the module, a browser context per person.

Every test asserts what a person sees, and that no page logged a
JavaScript error. Screenshots of the main states go to tests/screenshots/
(git-ignored), for a reviewer to look at.
"""
import json
import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import ConsoleErrors, accessibility_problems, chromium, screenshot
from tests.support.chat_stack import chat_stack, start_daphne

from .actors import shell, signed_up

pytestmark = pytest.mark.integration

WAIT = 10_000  # ms for anything the page should show
LIMIT = 2000
XSS = "<img src=x onerror=alert(1)>"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chat-stack-pages")
    with chat_stack(workdir, workers=2, DATABASE_URL="sqlite:///%s" % (workdir / "pages.sqlite3")) as running:
        running.start_presence()
        yield running


@pytest.fixture(scope="module")
def browser():
    expect.set_options(timeout=WAIT)
    with chromium() as running:
        yield running


@pytest.fixture
def open_page(stack, browser):
    """open_page(path, viewport=None, cookies_of=None, setup=None, **context_options)
    -> a page in a context of its own (a person), loaded and connected;
    setup(page) runs before it loads. At the end of the test no
    page may have logged a JavaScript error (refused connections aside,
    while a test has Daphne down)."""
    contexts, pages = [], []

    def _open(path, viewport=None, cookies_of=None, setup=None, **context_options):
        context = browser.new_context(viewport=viewport or {"width": 1100, "height": 720}, **context_options)
        contexts.append(context)
        if cookies_of is not None:
            context.add_cookies([{"name": cookie.name, "value": cookie.value, "url": stack.base_url}
                                 for cookie in cookies_of.cookies])
        page = context.new_page()
        page.errors = ConsoleErrors(page)
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        pages.append(page)
        if setup is not None:
            setup(page)
        page.goto(stack.url(path))
        if page.locator("#status").count():
            expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        return page

    yield _open
    errors = {page.url: [error for error in page.errors if "ERR_CONNECTION_REFUSED" not in error] for page in pages}
    for context in contexts:
        context.close()
    assert {url: found for url, found in errors.items() if found} == {}


def messages(page):
    return page.locator("#transcript .text").all_inner_texts()


def send(page, text):
    page.fill("#message", text)
    page.press("#message", "Enter")


def expect_no_horizontal_scroll(page):
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def test_two_people_chat_live_and_another_room_hears_nothing(stack, open_page, new_room):
    label, elsewhere = new_room("page-live"), new_room("page-other")
    ada, grace, other = open_page("/%s/" % label), open_page("/%s/" % label), open_page("/%s/" % elsewhere)
    expect(ada.locator("#handle")).to_be_focused()  # no name yet: typing starts there

    ada.fill("#handle", "Ada")
    send(ada, "Hello Grace, the tests are green.")
    expect(ada.locator("#message")).to_be_focused()
    expect(ada.locator("#message")).to_have_value("")
    expect(grace.locator("#transcript .text")).to_have_text(["Hello Grace, the tests are green."])

    grace.fill("#handle", "Grace")
    grace.fill("#message", "Lovely!")
    grace.press("#message", "Shift+Enter")  # a new line, not a send
    grace.type("#message", "Shall we ship it?")
    expect(grace.locator("#message")).to_have_value("Lovely!\nShall we ship it?")
    expect(ada.locator("#transcript .text")).to_have_count(1)
    grace.press("#message", "Enter")
    # Two people's messages are ordered by when they are saved, not typed:
    # Ada answers what she has seen.
    expect(ada.locator("#transcript .text")).to_have_count(2)
    send(ada, "Yes, after lunch.")
    expected = ["Hello Grace, the tests are green.", "Lovely!\nShall we ship it?", "Yes, after lunch."]
    for page in (ada, grace):
        expect(page.locator("#transcript .text")).to_have_text(expected)
    # Grouped by sender: Ada's two messages are apart, so three headings.
    expect(ada.locator("#transcript .message:not(.continued) .handle")).to_have_text(["Ada", "Grace", "Ada"])
    # Guests who wrote are listed by the name they wrote under; each page
    # names itself.
    expect(ada.locator("#presence-list li")).to_have_text(["Ada (you)", "Grace"])
    expect(ada.locator("#presence-guests")).to_have_text("")
    expect(ada.locator("#status")).to_have_text("Connected")
    screenshot(ada, "room")  # docs/screenshots/room.png, the README's, is a copy of one

    # A reload renders the history exactly as the live view showed it
    # (same local times, same grouping), and remembers the name.
    live = ada.locator("#transcript").inner_text()
    ada.reload()
    expect(ada.locator("#status")).to_have_attribute("data-state", "connected")
    assert ada.locator("#transcript").inner_text() == live
    expect(ada.locator("#handle")).to_have_value("Ada")
    expect(ada.locator("#message")).to_be_focused()

    assert messages(other) == []


def test_markup_in_names_and_messages_shows_as_typed(open_page, new_room):
    label = new_room("page-xss")
    page = open_page("/%s/" % label)
    page.fill("#handle", XSS)
    send(page, XSS + " & <b>bold</b>")
    expect(page.locator("#transcript .text")).to_have_text([XSS + " & <b>bold</b>"])
    expect(page.locator("#transcript .handle")).to_have_text([XSS])
    page.reload()  # the history path too
    expect(page.locator("#transcript .text")).to_have_text([XSS + " & <b>bold</b>"])
    expect(page.locator("#transcript .handle")).to_have_text([XSS])
    assert page.locator("#transcript img, #transcript b").count() == 0
    assert page.dialogs == []


def test_a_message_over_the_limit_is_refused_with_the_draft_kept(open_page, new_room):
    label = new_room("page-limit")
    page = open_page("/%s/" % label)
    page.fill("#handle", "Lin")
    too_long = "x" * (LIMIT + 1)
    page.fill("#message", too_long)
    expect(page.locator("#message-count")).to_have_text("2,001 / 2,000 characters: 1 too many")
    page.press("#message", "Enter")
    expect(page.locator("#composer-error")).to_contain_text("the limit is 2,000")
    expect(page.locator("#message")).to_have_value(too_long)
    assert page.locator("#pending li").count() == 0

    # What only the server refuses (a control character) comes back too.
    page.fill("#message", "ring the bell \x07")
    page.press("#message", "Enter")
    expect(page.locator("#composer-error")).to_contain_text("characters that cannot be sent")
    expect(page.locator("#message")).to_have_value("ring the bell \x07")
    expect(page.locator("#pending li")).to_have_count(0)
    screenshot(page, "error")

    send(page, "x" * LIMIT)  # exactly at the limit: sent, and the error goes
    expect(page.locator("#transcript .text")).to_have_text(["x" * LIMIT])
    expect(page.locator("#composer-error")).to_be_hidden()
    assert page.locator("#message").input_value() == ""


def test_a_phone_sized_window_has_no_horizontal_scrolling(open_page, new_room):
    label = new_room("page-narrow")
    page = open_page("/%s/" % label, viewport=PHONE)
    page.fill("#handle", "Someone-with-a-rather-long-name-indeed")
    send(page, "an-unbroken-" + "word" * 60)
    expect(page.locator("#transcript .text")).to_have_count(1)
    expect_no_horizontal_scroll(page)
    send_button = page.locator("button.send").bounding_box()
    assert send_button["x"] >= 0 and send_button["x"] + send_button["width"] <= PHONE["width"]
    screenshot(page, "narrow")
    page.goto(page.url.rsplit("/", 2)[0] + "/")  # the room list
    expect(page.locator("#rooms")).to_contain_text(label)
    expect_no_horizontal_scroll(page)


def test_here_now_shows_once_presence_comes_and_a_guest_page_names_itself(open_page, new_room):
    label = new_room("page-presence")

    def without_presence_frames(page):  # as under runserver, where no runpresence runs
        def route(socket):
            server = socket.connect_to_server()
            server.on_message(lambda frame: None if '"presence"' in str(frame) else socket.send(frame))
        page.route_web_socket(re.compile(r"/chat/"), route)

    alone = open_page("/%s/" % label, setup=without_presence_frames)
    alone.fill("#handle", "Lin")
    send(alone, "is anyone here?")
    expect(alone.locator("#transcript .text")).to_have_text(["is anyone here?"])
    alone.wait_for_timeout(2500)  # runpresence tells a room within two seconds
    expect(alone.locator("#presence")).to_be_hidden()  # no empty "Here now"
    expect(alone.locator("#presence-title")).to_be_hidden()

    page = open_page("/%s/" % label)
    expect(page.locator("#presence")).to_be_visible()
    # No name typed here yet; Lin wrote, so is listed by name.
    expect(page.locator("#presence-list li")).to_have_text(["You", "Lin"])
    expect(page.locator("#presence-guests")).to_have_text("")
    page.fill("#handle", "Max")
    expect(page.locator("#presence-list li")).to_have_text(["Max (you)", "Lin"])
    third = open_page("/%s/" % label)  # a guest who has not written: counted, nameless
    expect(page.locator("#presence-guests")).to_have_text("and 1 guest")
    expect(third.locator("#presence-list li")).to_have_text(["You", "Lin"])


def test_the_shift_enter_hint_shows_only_where_there_is_a_keyboard(open_page, new_room):
    label = new_room("page-touch")
    desk = open_page("/%s/" % label)
    expect(desk.locator("#composer-hint")).to_be_visible()
    phone = open_page("/%s/" % label, viewport=PHONE, has_touch=True, is_mobile=True)
    expect(phone.locator("#composer-hint")).to_be_hidden()
    expect(phone.locator("#message")).to_be_visible()


def test_the_pages_pass_an_automated_accessibility_check(open_page, new_room, join):
    label = new_room("page-axe")
    sock = join(label)
    sock.say("Sam", "A message for the checker to look at.")
    page = open_page("/%s/" % label)
    expect(page.locator("#transcript .text")).to_have_count(1)
    page.fill("#handle", "Kim")
    send(page, "And a second one.")
    expect(page.locator("#transcript .text")).to_have_count(2)
    assert accessibility_problems(page) == []
    page.goto(page.url.rsplit("/", 2)[0] + "/")
    assert accessibility_problems(page) == []
    page.goto(page.url + "accounts/signup/")
    assert accessibility_problems(page) == []


def test_the_room_list_joins_a_room_by_name(open_page, new_room):
    label = new_room("page-join")
    page = open_page("/")
    page.fill("#join-room", label)
    page.press("#join-room", "Enter")
    expect(page.locator("h1")).to_have_text(label)
    expect(page.locator("#status")).to_have_attribute("data-state", "connected")


def test_signing_up_and_in_through_the_page_shows_who_is_signed_in(stack, open_page, new_room):
    label = new_room("page-account")
    name, password = "page_user_%s" % label[-8:], "a long enough passphrase %s" % label
    page = open_page("/%s/" % label)
    page.click("text=Sign up")
    page.fill("#id_username", name)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    page.click("main button[type=submit]")
    expect(page.locator("#username")).to_have_text(name)
    expect(page.locator("h1")).to_have_text(label)  # back in the room
    expect(page.locator("#presence-list li")).to_have_text([name + " (you)"])
    send(page, "signed in now")
    expect(page.locator("#transcript .handle.user")).to_have_text([name])

    page.click("text=Sign out")
    expect(page.locator("#username")).to_have_count(0)
    page.click("text=Sign in")
    page.fill("#id_username", name)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    expect(page.locator("#username")).to_have_text(name)


def test_a_mention_from_another_room_shows_a_notification(stack, open_page, new_room):
    reader, reader_name = signed_up(stack)
    writer, writer_name = signed_up(stack)
    here, there = new_room("page-mentioned"), new_room("page-mentioning")
    page = open_page("/%s/" % here, cookies_of=reader)
    expect(page.locator("#username")).to_have_text(reader_name)
    expect(page.locator("#presence-list li")).to_have_text([reader_name + " (you)"])
    chat = writer.socket(there)
    try:
        text = "@%s have a look at %s" % (reader_name, XSS)
        chat.send(json.dumps({"message": text}))
        json.loads(chat.recv())
    finally:
        chat.close()
    mention = page.locator("#mentions li")
    expect(mention).to_contain_text("%s mentioned you in %s" % (writer_name, there))
    expect(mention.locator(".text")).to_have_text(text)
    expect(mention.locator("a")).to_have_attribute("href", "/%s/" % there)


def test_an_announcement_shows_as_a_banner_until_taken_down(stack, open_page, new_room):
    page = open_page("/%s/" % new_room("page-banner"))
    banner = page.locator("#announcement")
    expect(banner).to_be_hidden()
    try:
        pk = int(shell(stack, "from chat.models import Announcement; "
                              "print(Announcement.objects.create(text='Maintenance at <b>10:00</b>').pk)"))
        expect(banner).to_be_visible()
        expect(page.locator("#announcement-text")).to_have_text("Maintenance at <b>10:00</b>")
        shell(stack, "from chat.models import Announcement; a = Announcement.objects.get(pk=%d); "
                     "a.active = False; a.save()" % pk)
        expect(banner).to_be_hidden()
    finally:
        # update() sends nothing: later pages must not get a banner.
        shell(stack, "from chat.models import Announcement; Announcement.objects.update(active=False)")


def test_older_messages_load_on_scroll_up_and_new_ones_do_not_yank_the_view(stack, open_page, new_room, db, join):
    label = new_room("page-scroll")
    texts = ["old-%03d" % number for number in range(120)]
    db.seed_messages(label, texts)
    page = open_page("/%s/" % label)
    expect(page.locator("#transcript .text")).to_have_count(50)
    scroller = page.locator("#scroller")
    for _ in range(5):  # each scroll to the top loads a page of older messages
        if page.locator("#history-start").is_visible():
            break
        shown = page.locator("#transcript .text").count()
        scroller.evaluate("element => { element.scrollTop = 0; }")
        page.wait_for_function("shown => document.querySelectorAll('#transcript .text').length > shown", arg=shown)
    expect(page.locator("#history-start")).to_have_text("This is the start of the room.")
    expect(page.locator("#load-older")).to_be_hidden()
    assert messages(page) == texts

    # Scrolled up, a new message does not move the view: a marker offers the way down.
    page.evaluate("""() => {  // the tab goes to the background
        Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
    }""")
    top = scroller.evaluate("element => element.scrollTop")
    sock = join(label)
    sock.say("Newcomer", "fresh news")
    jump = page.locator("#jump")
    expect(jump).to_have_text("1 new message ↓")
    assert scroller.evaluate("element => element.scrollTop") == top
    expect(page).to_have_title("(1) %s · Chat" % label)
    page.evaluate("""() => {
        delete document.hidden;
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    expect(page).to_have_title("%s · Chat" % label)
    jump.click()
    expect(jump).to_be_hidden()
    expect(page.locator("#transcript .text").last).to_be_in_viewport()


def test_a_message_sent_while_daphne_is_down_is_queued_and_sent_on_reconnect(stack, open_page, new_room):
    label = new_room("page-down")
    page, other = open_page("/%s/" % label), open_page("/%s/" % label)
    page.fill("#handle", "Pat")
    send(page, "before")
    expect(other.locator("#transcript .text")).to_have_text(["before"])

    stack.daphne.kill()
    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "reconnecting")
    expect(status).to_contain_text(" s…")  # the countdown
    send(page, "while down")
    expect(page.locator("#message")).to_have_value("")
    expect(page.locator("#pending li")).to_contain_text("will be sent when the connection is back")
    screenshot(page, "reconnecting")

    stack.daphne, _ = start_daphne(stack.group, stack.env, name="daphne-restarted", port=stack.http_port)
    expect(status).to_have_attribute("data-state", "connected", timeout=30_000)
    for each in (page, other):
        expect(each.locator("#transcript .text")).to_have_text(["before", "while down"], timeout=30_000)
    expect(page.locator("#pending li")).to_have_count(0)
