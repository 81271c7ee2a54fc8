"""
A room bigger than a channel's stock capacity, on one Daphne.

Daphne 1.4 has ONE reply list per process for all its sockets, and
asgi_redis drops Group sends that do not fit. Stock capacity is 100: with
the reply capacity setting wrong, most of these sockets miss the message.
"""
import time

import pytest

from .conftest import assert_message_frame

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]

ROOM_SIZE = 250


def test_a_broadcast_reaches_every_socket_of_a_room_larger_than_the_stock_capacity(new_room, join):
    label = new_room("big")
    sockets = [join(label) for _ in range(ROOM_SIZE)]
    for round_number in range(3):
        text = "round %d" % round_number
        sockets[round_number].say("host", text)
        deadline = time.monotonic() + 30
        ids, missed = set(), 0
        for sock in sockets:
            try:
                frame = sock.recv_json(timeout=max(0.05, deadline - time.monotonic()))
            except pytest.fail.Exception:  # recv_json's "no frame in time"
                missed += 1
                continue
            ids.add(assert_message_frame(frame, label, "host", text)["id"])
        assert missed == 0, "%d of %d sockets never got %r" % (missed, ROOM_SIZE, text)
        assert len(ids) == 1
