"""
A frame over CHAT_MAX_FRAME_SIZE (65536 bytes) is refused by Daphne as it
reads the frame's header (interface/endpoint.py: autobahn's limit, close
code 1009), so it never reaches Redis or a worker; a frame within the
limit still reaches a worker, which answers it with an error frame.
"""
import struct
import time

import pytest
import websocket

from .conftest import assert_error_frame, assert_message_frame

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]

LIMIT = 65536  # the shipped CHAT_MAX_FRAME_SIZE


def close_code(sock, timeout=10):
    """The code of the server's close frame, or None if the connection just dropped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.ws.settimeout(1.0)
        try:
            opcode, data = sock.ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
    pytest.fail("%r: not closed within %ss" % (sock, timeout))


def receive_dispatches(stack):
    return sum(stack.dispatch_count(worker, "websocket.receive") for worker in stack.workers)


def send_ignoring_a_closed_connection(sock, payload):
    try:
        sock.ws.send(payload)
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        pass  # Daphne may close while the rest of the frame is still being written


@pytest.mark.parametrize("payload", [
    "x" * (LIMIT + 1),
    "€" * (LIMIT // 3 + 1),   # fewer characters than the limit, more bytes (UTF-8)
    "x" * (8 * 1024 * 1024),
], ids=["one-byte-over", "multibyte-over", "8MB"])
def test_a_frame_over_the_limit_closes_its_socket_before_any_worker_sees_it(stack, new_room, join, payload, db):
    label = new_room("big")
    sender, bystander = join(label), join(label)
    dispatched = receive_dispatches(stack)

    started = time.monotonic()
    send_ignoring_a_closed_connection(sender, payload)
    assert close_code(sender) in (1009, None)  # 1009: message too big
    assert time.monotonic() - started < 5

    # The bystander chats on; the one frame the workers ran is its own.
    bystander.say("bystander", "still here")
    assert_message_frame(bystander.recv_json(), label, "bystander", "still here")
    assert receive_dispatches(stack) == dispatched + 1
    assert [row["message"] for row in db.messages(label)] == ["still here"]


def test_a_frame_within_the_limit_reaches_a_worker_and_is_answered(stack, new_room, join):
    label = new_room("bigish")
    sender = join(label)
    sender.send_text("x" * LIMIT)
    assert_error_frame(sender.recv_json(), "message_too_long")
    sender.say("sender", "and on")
    frame = sender.recv_json()
    assert frame.get("message") == "and on", frame
