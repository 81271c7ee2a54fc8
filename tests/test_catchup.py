"""Catch-up over the Redis layer Daphne and the workers run: it fills at
most CATCHUP_SHARE of the reply list every socket of one Daphne shares,
and always ends with one frame (chat/catchup.py, docs/protocol.md)."""
import json

import pytest
from channels import Channel

from chat.catchup import CATCHUP_SHARE, send_catchup
from chat.models import Room
from interface.layer import ChatChannelLayer
from tests.support.processes import ProcessGroup
from tests.support.redis_server import start_redis

CAPACITY = 20
CEILING = int(CAPACITY * CATCHUP_SHARE)  # what a catch-up may fill the list up to
REPLY = "daphne.response.catchup!socket"


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with ProcessGroup(tmp_path_factory.mktemp("catchup")) as group:
        _, port = start_redis(group)
        yield "redis://127.0.0.1:%d/0" % port


@pytest.fixture
def layer(redis_url):
    made = ChatChannelLayer(hosts=[redis_url], channel_capacity={"daphne.response.*": CAPACITY})
    made.flush()
    return made


@pytest.fixture
def room(db):
    room = Room.objects.create(label="lobby")
    for number in range(1, 6):
        room.post("h", "m%d" % number, "c%d" % number)
    return room


def waiting(layer):
    """Decoded frames waiting on the reply channel, oldest first."""
    frames = []
    while True:
        _, message = layer.receive(["daphne.response.catchup!"])
        if message is None:
            return frames
        frames.append(json.loads(message["text"]))


def fill(layer, count):
    for _ in range(count):
        layer.send(REPLY, {"text": json.dumps({"type": "filler"})})


def ids(room):
    return list(room.messages.order_by("pk").values_list("pk", flat=True))


def test_an_empty_list_gets_the_whole_catchup_then_caught_up(layer, room):
    send_catchup(Channel(REPLY, channel_layer=layer), room, 0)
    frames = waiting(layer)
    assert [f["id"] for f in frames[:-1]] == ids(room)
    assert frames[-1] == {"type": "caught_up", "room": "lobby", "last_id": ids(room)[-1]}


def test_a_catchup_stops_at_its_share_of_the_list_and_says_where_the_api_goes_on(layer, room, caplog):
    fill(layer, CEILING - 2)  # room for two catch-up frames below the ceiling
    send_catchup(Channel(REPLY, channel_layer=layer), room, 0)
    frames = [f for f in waiting(layer) if f["type"] != "filler"]
    assert [f["id"] for f in frames[:-1]] == ids(room)[:2]
    assert (frames[-1]["type"], frames[-1]["code"], frames[-1]["after"]) == ("error", "catchup_truncated", ids(room)[1])
    assert "reply list" in caplog.text.lower()


def test_a_list_full_to_its_share_sends_no_catchup_frame_only_where_to_fetch_from(layer, room):
    after = ids(room)[0]
    fill(layer, CEILING)
    send_catchup(Channel(REPLY, channel_layer=layer), room, after)
    frames = [f for f in waiting(layer) if f["type"] != "filler"]
    assert [(f["code"], f["after"]) for f in frames] == [("catchup_truncated", after)]


def test_send_while_below_sends_a_prefix_and_says_how_many(layer):
    fill(layer, 3)
    sent = layer.send_while_below(REPLY, [{"text": json.dumps({"type": "n", "n": n})} for n in range(5)], 6)
    assert sent == 3
    assert [f.get("n") for f in waiting(layer)] == [None] * 3 + [0, 1, 2]
