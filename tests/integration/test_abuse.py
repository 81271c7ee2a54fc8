"""
One client cannot hurt the others: a socket that floods, and keeps
reconnecting to flood again, is closed by Daphne (interface/budgets.py) while
the bystanders in its room stay connected and receive every message.
Clients are told apart by X-Forwarded-For, as behind nginx.
"""
import threading
import time

import pytest
import websocket

from tests.support.chat_stack import chat_stack

from .conftest import Socket, assert_message_frame, chat_path

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]

BYSTANDERS = 4
ROUNDS = 10
FLOOD_SECONDS = 6


@pytest.fixture(scope="module")
def stack(tmp_path_factory, module_database):
    """The shipped budgets (per-address ones too), Daphne trusting X-Forwarded-For."""
    # deploy/daphne.sh runs Daphne with --proxy-headers.
    with chat_stack(tmp_path_factory.mktemp("chat-stack-abuse"), workers=2, shipped_budgets=True,
                    DATABASE_URL=module_database("chat_abuse")) as running:
        yield running


def open_socket(stack, label, address):
    url = stack.ws_url(chat_path(label))
    return Socket(websocket.create_connection(url, timeout=10, header=["X-Forwarded-For: %s" % address]), url)


class Flooder(threading.Thread):
    """Sends as fast as it can; when closed, reconnects at once."""

    def __init__(self, stack, label):
        super().__init__(daemon=True)
        self.stack, self.label = stack, label
        self.sent = self.closed = self.refused = 0

    def run(self):
        deadline = time.monotonic() + FLOOD_SECONDS
        frame = '{"handle": "flood", "message": "spam"}'
        while time.monotonic() < deadline:
            try:
                sock = open_socket(self.stack, self.label, "10.66.6.6")
            except Exception:
                self.refused += 1
                time.sleep(0.01)
                continue
            try:
                while time.monotonic() < deadline:
                    sock.ws.send(frame)
                    self.sent += 1
            except Exception:
                self.closed += 1
            finally:
                sock.close()


def test_a_reconnecting_flooder_is_closed_and_bystanders_lose_nothing(stack, new_room, db):
    label = new_room("flood")
    bystanders = [open_socket(stack, label, "10.0.0.%d" % (number + 1)) for number in range(BYSTANDERS)]
    flooder = Flooder(stack, label)
    flooder.start()
    time.sleep(0.5)
    expected = []
    for round_number in range(ROUNDS):
        for index, sock in enumerate(bystanders):
            text = "bystander %d round %d" % (index, round_number)
            sock.say("b%d" % index, text)
            expected.append(text)
        time.sleep(0.2)
    flooder.join(FLOOD_SECONDS + 10)

    for sock in bystanders:
        # Flood frames reach them too, until Daphne closes the flooder:
        # keep only the bystanders' messages, and every one must be there.
        got = []
        deadline = time.monotonic() + 60
        while len(got) < len(expected):
            assert time.monotonic() < deadline, "%r got %d of %d" % (sock, len(got), len(expected))
            frame = sock.recv_json(timeout=30)
            if frame.get("handle") != "flood":
                got.append(assert_message_frame(frame, label, frame["handle"], frame["message"])["message"])
        assert sorted(got) == sorted(expected)
        assert sock.connected
    assert flooder.closed >= 1, vars(flooder)
    saved_flood = sum(1 for row in db.messages(label) if row["handle"] == "flood")
    # The per-address budget (50 at once, then 10 a second) bounds what got through.
    assert saved_flood <= 50 + 10 * (FLOOD_SECONDS + 1), (saved_flood, vars(flooder))
    assert all(worker.alive() for worker in stack.workers)


def test_a_burst_over_the_socket_budget_is_answered_rate_limited_and_the_socket_stays(stack, new_room, join, db):
    label = new_room("burst")
    eager = join(label)
    for number in range(24):  # the budget: 20 at once, 5 a second; then a debt of 5
        eager.say("eager", "m%03d" % number)
    frames = eager.recv_many(24, timeout=30)
    saved = [f for f in frames if f["type"] == "message"]
    limited = [f for f in frames if f["type"] == "error"]
    assert len(saved) >= 20 and len(limited) >= 2, (len(saved), len(limited))
    assert all(f["code"] == "rate_limited" and f["retry_after"] > 0 for f in limited), limited
    assert [row["message"] for row in db.messages(label)] == [f["message"] for f in saved]
    time.sleep(max(f["retry_after"] for f in limited))
    eager.say("eager", "after waiting")
    frame = eager.recv_json()
    assert frame.get("message") == "after waiting", frame  # let through when retry_after said
