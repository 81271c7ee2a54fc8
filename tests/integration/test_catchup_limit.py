"""A catch-up longer than CHAT_CATCHUP_LIMIT: the oldest ones, then catchup_truncated, then the API."""
import re

import pytest

from tests.support.chat_stack import chat_stack

from .conftest import assert_error_frame, assert_message_frame

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]

LIMIT = 5


@pytest.fixture(scope="module")
def stack(tmp_path_factory, module_database):
    """A private stack with a small catch-up limit."""
    with chat_stack(tmp_path_factory.mktemp("chat-stack-catchup-limit"), workers=2,
                    DATABASE_URL=module_database("chat_catchup_limit"),
                    CHAT_CATCHUP_LIMIT=LIMIT) as running:
        yield running


def test_catch_up_over_the_limit_sends_the_oldest_then_catchup_truncated(new_room, join, http_get):
    label = new_room("truncated")
    sender = join(label)
    frames = []
    for number in range(LIMIT + 3):
        sender.say("alice", "m%d" % number)
        frames.append(assert_message_frame(sender.recv_json(), label, "alice", "m%d" % number))

    reader = join(label, after=0)
    assert reader.recv_many(LIMIT) == frames[:LIMIT]
    error = assert_error_frame(reader.recv_json(), "catchup_truncated", after=frames[LIMIT - 1]["id"])
    match = re.search(r"/api/rooms/\S+/messages/\?after=\d+", error["detail"])
    assert match, error
    assert match.group(0) == "/api/rooms/%s/messages/?after=%d" % (label, frames[LIMIT - 1]["id"])

    # The rest, from the API the detail names.
    rest = http_get(match.group(0)).json()["messages"]
    assert rest == frames[LIMIT:]

    # And the socket is live.
    sender.say("alice", "live")
    live = assert_message_frame(sender.recv_json(), label, "alice", "live")
    assert reader.recv_json() == live


def test_catch_up_of_exactly_the_limit_is_not_truncated(new_room, join):
    label = new_room("exact")
    sender = join(label)
    frames = []
    for number in range(LIMIT):
        sender.say("alice", "m%d" % number)
        frames.append(sender.recv_json())
    reader = join(label, after=0)
    assert reader.recv_many(LIMIT) == frames
    assert reader.recv_json() == {"type": "caught_up", "room": label, "last_id": frames[-1]["id"]}
    reader.assert_silent()
    # Silent, and served: the room's next message is its next frame.
    sender.say("alice", "live")
    assert reader.recv_json() == assert_message_frame(sender.recv_json(), label, "alice", "live")
