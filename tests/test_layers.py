"""The budgets interface.layer.ChatChannelLayer keeps in Daphne's process,
its Twisted mode, and its Redis calls."""
import json
import time

import pytest
import redis

from redis_layer import socket_registry
from interface.layer import ChatChannelLayer
from redis_layer.layer import QUEUED_AT_KEY, RETRY_AFTER_KEY
from interface.twisted_receive import TwistedReceiver
from tests.support.processes import ProcessGroup
from tests.support.redis_server import start_redis
from tests.test_layer_conformance import PumpedReactor


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with ProcessGroup(tmp_path_factory.mktemp("layers")) as group:
        _, port = start_redis(group)
        yield "redis://127.0.0.1:%d/0" % port


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def layer(redis_url, clock):
    def make(**limits):
        config = dict(frame_rate=2, frame_burst=3, address_frame_rate=0, connect_rate=0, max_frame_size=100)
        config.update(limits)
        made = ChatChannelLayer(hosts=[redis_url], clock=clock, **config)
        made.act_as_interface_server()
        made.flush()
        return made
    return make


def connect(layer, reply_channel, address="10.0.0.1"):
    layer.send("websocket.connect", {"reply_channel": reply_channel, "path": "/chat/a/", "order": 0,
                                     "client": [address, 5000]})


def frame(layer, reply_channel, text="{}", order=1):
    layer.send("websocket.receive", {"reply_channel": reply_channel, "path": "/chat/a/", "order": order,
                                     "text": text})


def delivered(chat):
    """What reached websocket.receive: (reply channel, retry_after or None) each."""
    got = []
    while True:
        channel, message = chat.receive(["websocket.receive"])
        if channel is None:
            return got
        got.append((message["reply_channel"], message.get(RETRY_AFTER_KEY)))


def test_a_socket_over_its_budget_is_marked_then_closed_and_its_neighbour_is_not(layer, clock):
    chat = layer(frame_rate=2, frame_burst=8)
    connect(chat, "daphne.response.x!flood")
    connect(chat, "daphne.response.x!calm")
    for order in range(10):  # 8 within budget, 2 on debt (a quarter burst)
        frame(chat, "daphne.response.x!flood", order=order + 1)
    with pytest.raises(chat.ChannelFull):  # further still: closed
        frame(chat, "daphne.response.x!flood", order=11)
    frame(chat, "daphne.response.x!calm")
    # Each marked frame says how long until the next one goes through: its
    # debt paid (1, then 2 tokens at 2 a second) and a token more.
    assert delivered(chat) == [("daphne.response.x!flood", None)] * 8 + [
        ("daphne.response.x!flood", 1.0), ("daphne.response.x!flood", 1.5), ("daphne.response.x!calm", None)]


def test_a_closed_socket_gets_the_disconnect_daphne_does_not_send(layer):
    # Daphne mutes a socket whose frame met ChannelFull and sends no
    # disconnect: it would stay in its Groups. The layer sends one, in the
    # refused frame's place in the socket's order.
    chat = layer(frame_rate=1, frame_burst=1)
    connect(chat, "daphne.response.x!flood")
    frame(chat, "daphne.response.x!flood", order=1)
    frame(chat, "daphne.response.x!flood", order=2)  # on debt: marked
    with pytest.raises(chat.ChannelFull):
        frame(chat, "daphne.response.x!flood", order=3)
    channel, message = chat.receive(["websocket.disconnect"])
    assert channel == "websocket.disconnect"
    assert message == {"reply_channel": "daphne.response.x!flood", "path": "/chat/a/", "code": 1013, "order": 3}
    assert "daphne.response.x!flood" not in chat._sockets


def test_daphne_publishes_its_open_sockets_every_few_seconds(layer, clock):
    chat = layer()
    connect(chat, "daphne.response.x!one")
    connect(chat, "daphne.response.x!two")
    connect(chat, "daphne.response.other!three")  # not this process's
    chat.receive(["daphne.response.x!"])
    sockets_key = socket_registry.redis_key(chat, socket_registry.SOCKETS_KEY + "daphne.response.x!")
    assert chat.connection(0).smembers(sockets_key) == {b"daphne.response.x!one", b"daphne.response.x!two"}
    chat.send("websocket.disconnect", {"reply_channel": "daphne.response.x!two", "path": "/chat/a/", "order": 1})
    chat.receive(["daphne.response.x!"])  # too soon: the list stands
    assert len(chat.connection(0).smembers(sockets_key)) == 2
    clock.now += socket_registry.PUBLISH_EVERY
    chat.receive(["daphne.response.x!"])
    assert chat.connection(0).smembers(sockets_key) == {b"daphne.response.x!one"}


def test_a_marked_socket_that_waits_is_served_again(layer, clock):
    chat = layer()
    connect(chat, "daphne.response.x!eager")
    for order in range(4):
        frame(chat, "daphne.response.x!eager", order=order + 1)
    [*_, (_, retry_after)] = delivered(chat)
    assert retry_after == 1.0  # the debt of one, and one more token, at 2 a second
    clock.now += retry_after
    frame(chat, "daphne.response.x!eager", order=5)
    assert delivered(chat) == [("daphne.response.x!eager", None)]


def test_retry_after_is_never_shorter_than_the_wait_that_lets_the_next_frame_through(layer, clock):
    # Whatever the rates and the spacing: a client that waits retry_after
    # after a marked frame has its next frame go through unmarked.
    for rate, burst, gap in [(2, 3, 0.0), (3, 10, 0.05), (5, 20, 0.01), (7, 4, 0.13), (1, 1, 0.0)]:
        chat = layer(frame_rate=rate, frame_burst=burst)
        reply_channel = "daphne.response.x!r%s" % rate
        connect(chat, reply_channel)
        order = 0
        while True:
            order += 1
            frame(chat, reply_channel, order=order)
            [(_, retry_after)] = delivered(chat)
            if retry_after is not None:
                break
            clock.now += gap
        assert retry_after * 10 == int(retry_after * 10 + 1e-9)  # in tenths
        clock.now += retry_after
        frame(chat, reply_channel, order=order + 1)
        assert delivered(chat) == [(reply_channel, None)], (rate, burst, gap, retry_after)
        clock.now += 3600  # a full bucket for the next case


def test_a_frame_over_the_size_limit_is_refused(layer):
    chat = layer()
    connect(chat, "daphne.response.x!big")
    frame(chat, "daphne.response.x!big", text="x" * 100)
    with pytest.raises(chat.ChannelFull):
        frame(chat, "daphne.response.x!big", text="x" * 101)
    with pytest.raises(chat.ChannelFull):
        chat.send("websocket.receive", {"reply_channel": "daphne.response.x!big", "order": 3, "bytes": b"x" * 101})


def test_reconnecting_does_not_reset_an_address_budget(layer, clock):
    chat = layer(frame_rate=0, address_frame_rate=1, address_frame_burst=2, connect_rate=1, connect_burst=2)
    # burst 2: a debt of 1 (the minimum) is allowed, then the socket closes
    connect(chat, "daphne.response.x!one", "10.0.0.9")
    frame(chat, "daphne.response.x!one")
    frame(chat, "daphne.response.x!one", order=2)
    chat.send("websocket.disconnect", {"reply_channel": "daphne.response.x!one", "order": 3})
    connect(chat, "daphne.response.x!two", "10.0.0.9")
    frame(chat, "daphne.response.x!two")  # the new socket inherits the address's debt
    with pytest.raises(chat.ChannelFull):
        frame(chat, "daphne.response.x!two", order=2)
    with pytest.raises(chat.ChannelFull):  # a third connection within the burst of 2
        connect(chat, "daphne.response.x!three", "10.0.0.9")
    connect(chat, "daphne.response.x!other", "10.0.0.10")  # another client is not affected
    frame(chat, "daphne.response.x!other")
    assert [wait for _, wait in delivered(chat)] == [None, None, 2.0, None]


def test_daphne_stamps_each_handshake_with_when_it_queued_it(layer):
    chat = layer()
    before = time.time()
    connect(chat, "daphne.response.x!stamped")
    _, message = chat.receive(["websocket.connect"])
    assert before <= message[QUEUED_AT_KEY] <= time.time()


def test_an_address_refused_while_it_retried_in_a_loop_is_admitted_soon_after_it_stops(layer, clock):
    chat = layer(frame_rate=0, connect_rate=5, connect_burst=30)
    admitted = 0
    for attempt in range(3000):  # a minute of a client retrying 50 times a second
        try:
            connect(chat, "daphne.response.x!try%d" % attempt, "10.0.0.7")
            admitted += 1
        except chat.ChannelFull:
            pass
        clock.now += 0.02
    assert admitted < 30 + 5 * 60 + 1  # never more than the burst and the rate
    clock.now += (30 / 4.0 + 2) / 5  # the most debt, and one token, at 5 a second
    connect(chat, "daphne.response.x!after", "10.0.0.7")


def test_only_an_interface_server_meters(redis_url, clock):
    # Workers put parked frames back on websocket.receive (enforce_ordering):
    # those must never be refused.
    worker_layer = ChatChannelLayer(hosts=[redis_url], clock=clock, frame_rate=1, frame_burst=1, capacity=500,
                                    max_frame_size=10)
    worker_layer.flush()
    for order in range(20):
        frame(worker_layer, "daphne.response.x!parked", text="z" * 20, order=order + 1)
    assert delivered(worker_layer) == [("daphne.response.x!parked", None)] * 20


def test_zero_turns_a_budget_off(layer):
    chat = layer(frame_rate=0, max_frame_size=0)
    connect(chat, "daphne.response.x!free")
    for order in range(50):
        frame(chat, "daphne.response.x!free", text="y" * 1000, order=order + 1)
    assert delivered(chat) == [("daphne.response.x!free", None)] * 50


def test_idle_address_budgets_are_forgotten(layer, clock):
    chat = layer(address_frame_rate=1, address_frame_burst=2, connect_rate=1, connect_burst=2, capacity=500)
    for number in range(100):
        connect(chat, "daphne.response.x!%d" % number, "10.1.0.%d" % number)
        chat.send("websocket.disconnect", {"reply_channel": "daphne.response.x!%d" % number, "order": 1})
    assert len(chat._address_connects) == 100 and not chat._sockets
    clock.now += chat.PRUNE_EVERY + 5
    connect(chat, "daphne.response.x!late", "10.2.0.1")
    assert list(chat._address_connects) == ["10.2.0.1"]


def test_with_shards_a_worker_blocks_briefly_on_each(redis_url):
    # asgi_redis blocks 5 s on one shard while messages wait on another; and
    # a stopping worker waits out its block (chat/worker.py): 1 s at most.
    assert ChatChannelLayer(hosts=[redis_url]).blpop_timeout == 1
    assert ChatChannelLayer(hosts=[redis_url, redis_url.replace("/0", "/1")]).blpop_timeout == 0.05


def test_after_a_redis_restart_only_sockets_from_before_the_outage_are_closed(layer, clock):
    chat = layer()
    connect(chat, "daphne.response.x!before")
    chat.receive(["daphne.response.x!"])   # learns this Redis's run_id
    chat._run_ids = ["a Redis that is gone"]  # as if it had restarted...
    clock.now += 1
    chat._outage, chat._outage_since = True, clock.now  # ...during an outage that began now
    clock.now += 6
    connect(chat, "daphne.response.x!after")  # connected to the new Redis, and in its Groups
    chat.receive(["daphne.response.x!"])
    # What Daphne then reads from its process channel: the one close.
    assert chat.receive(["daphne.response.x!"]) == ("daphne.response.x!before", {"close": True})
    assert chat.receive(["daphne.response.x!"]) == (None, None)


def test_daphne_collects_its_garbage_every_half_minute_after_a_socket_closed(layer, clock, monkeypatch):
    collections = []
    monkeypatch.setattr("interface.collection.gc.collect", lambda: collections.append(clock.now))
    chat = layer()
    connect(chat, "daphne.response.x!a")
    chat.receive(["daphne.response.x!"])
    clock.now += ChatChannelLayer.COLLECT_EVERY
    chat.receive(["daphne.response.x!"])
    assert collections == []  # nothing closed: a collection would free nothing
    chat.send("websocket.disconnect", {"reply_channel": "daphne.response.x!a", "path": "/chat/a/", "order": 1})
    chat.receive(["daphne.response.x!"])
    chat.receive(["daphne.response.x!"])
    assert collections == [clock.now]
    chat.send("websocket.disconnect", {"reply_channel": "daphne.response.x!b", "path": "/chat/a/", "order": 1})
    clock.now += ChatChannelLayer.COLLECT_EVERY - 1
    chat.receive(["daphne.response.x!"])
    assert len(collections) == 1  # not twice within COLLECT_EVERY
    clock.now += 1
    chat.receive(["daphne.response.x!"])
    assert len(collections) == 2


def test_a_broadcast_to_a_full_reply_channel_is_logged_not_dropped_in_silence(redis_url, caplog):
    """asgi_redis skips a Group member whose channel is full without a word;
    a Daphne whose process channel fills would lose broadcasts unseen."""
    worker = ChatChannelLayer(hosts=[redis_url], channel_capacity={"daphne.response.*": 1})
    worker.flush()
    members = ["daphne.response.full!a", "daphne.response.full!b", "daphne.response.roomy!c"]
    for member in members:
        worker.group_add("chat.room.1", member)
    worker.send("daphne.response.full!x", {"text": "fills it"})
    with caplog.at_level("WARNING", logger="redis_layer.layer"):
        worker.send_group("chat.room.1", {"text": "hello"})
    [record] = [r for r in caplog.records if r.name == "redis_layer.layer"]
    assert "Group chat.room.1: 2 member(s) not sent this message" in record.getMessage()
    channel, message = worker.receive(["daphne.response.roomy!"])
    assert (channel, message) == ("daphne.response.roomy!c", {"text": "hello"})


# Daphne's Twisted mode (interface/twisted_receive.py) and the layer's own
# Redis calls. PumpedReactor runs, in the test's thread, what the
# receiving thread hands to the reactor.

@pytest.fixture
def twisted_layer(layer):
    def make(**limits):
        chat = layer(**limits)
        chat.twisted_receiver = TwistedReceiver(chat, reactor=PumpedReactor())
        chat.twisted_receiver.BLOCK = 0.1
        return chat
    made = []
    yield lambda **limits: made.append(make(**limits)) or made[-1]
    for chat in made:
        chat.twisted_receiver.stop()


def receive_twisted(chat, channels=("daphne.response.x!",)):
    return chat.twisted_receiver.reactor.wait(chat.receive_twisted(list(channels)))


def test_daphne_takes_what_waits_on_its_process_channel_in_one_read_and_in_order(twisted_layer, monkeypatch):
    chat = twisted_layer()
    reads = []
    receive_batch = chat.receive_batch
    monkeypatch.setattr(chat, "receive_batch", lambda *args, **kwargs: reads.append(args) or receive_batch(
        *args, **kwargs))
    for number in range(5):
        chat.send("daphne.response.x!%d" % (number % 2), {"text": str(number)})
    got = [receive_twisted(chat) for _ in range(5)]
    assert got == [("daphne.response.x!%d" % (number % 2), {"text": str(number)}) for number in range(5)]
    assert len(reads) == 1
    assert receive_twisted(chat) == (None, None)  # after BLOCK seconds with nothing


def test_a_shared_channel_gives_one_message_a_read(layer):
    # Workers share websocket.receive: one that took a batch would hoard it.
    chat = layer()
    for order in range(3):
        frame(chat, "daphne.response.x!a", order=order + 1)
    assert len(chat.receive_batch(["websocket.receive"], limit=100)) == 1


def test_daphnes_bookkeeping_runs_on_the_reactor_thread_not_the_reading_one(twisted_layer, monkeypatch):
    import threading
    chat = twisted_layer()
    threads = []
    received = chat.received
    monkeypatch.setattr(chat, "received", lambda channels: threads.append(threading.current_thread()) or received(
        channels))
    chat.send("daphne.response.x!a", {"text": "hi"})
    assert receive_twisted(chat) == ("daphne.response.x!a", {"text": "hi"})
    assert threads == [threading.current_thread()]
    assert chat.twisted_receiver._thread is not threading.current_thread()


def test_in_twisted_mode_an_outage_then_a_restart_closes_the_sockets_from_before(twisted_layer, clock, monkeypatch):
    chat = twisted_layer()
    connect(chat, "daphne.response.x!before")
    assert receive_twisted(chat) == (None, None)  # learns this Redis's run_id
    receive_batch = chat.receive_batch

    def unreachable(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Redis is gone")
    monkeypatch.setattr(chat, "receive_batch", unreachable)
    clock.now += 1
    with pytest.raises(redis.exceptions.ConnectionError):  # Daphne logs it, asks again 5 s later
        receive_twisted(chat)
    assert chat._outage and chat._outage_since == clock.now
    monkeypatch.setattr(chat, "receive_batch", receive_batch)
    chat._run_ids = ["a Redis that is gone"]  # as if it had restarted
    clock.now += 6
    connect(chat, "daphne.response.x!after")
    assert receive_twisted(chat) == (None, None)  # reads again: the restart is seen
    assert receive_twisted(chat) == ("daphne.response.x!before", {"close": True})
    assert receive_twisted(chat) == (None, None)


_STOPPING_DAPHNE = """
import os, signal, sys, time
from twisted.internet import reactor
from interface.layer import ChatChannelLayer
layer = ChatChannelLayer(hosts=[sys.argv[1]])
layer.act_as_interface_server()
layer.twisted_receiver.BLOCK = 60  # a read that would hold the process a minute
reactor.callLater(0, layer.receive_twisted, ["daphne.response.stopping!"])
reactor.callLater(0.5, os.kill, os.getpid(), signal.SIGTERM)
reactor.run()  # Daphne's way: the reactor's signal handlers stop it
print("stopped", flush=True)
"""


def test_a_read_blocked_in_redis_does_not_hold_a_daphne_told_to_stop(redis_url):
    import subprocess
    import sys
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _STOPPING_DAPHNE, redis_url], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0 and "stopped" in done.stdout, done.stderr
    assert time.monotonic() - started < 5


def test_a_group_send_is_one_script_call_a_shard_and_reaches_members_on_every_shard(redis_url, caplog):
    hosts = [redis_url, redis_url.replace("/0", "/1")]
    worker = ChatChannelLayer(hosts=hosts, channel_capacity={"daphne.response.*": 2})
    worker.flush()
    processes = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]  # three on each shard
    members = ["daphne.response.%s!s%d" % (process, socket) for process in processes for socket in range(2)]
    assert len({worker.consistent_hash(worker.non_local_name(m)) for m in members}) == 2
    for member in members:
        worker.group_add("chat.room.1", member)
    calls = []
    send_many = worker.send_many
    worker.send_many = lambda **kwargs: calls.append(kwargs["client"]) or send_many(**kwargs)
    worker.send_group("chat.room.1", {"text": "hello"})
    assert sorted(id(client) for client in calls) == sorted(id(worker.connection(index)) for index in (0, 1))
    daphnes = [ChatChannelLayer(hosts=hosts) for _ in range(6)]
    for process, daphne in zip(processes, daphnes):
        got = [daphne.receive(["daphne.response.%s!" % process]) for _ in range(3)]
        assert sorted(got[:2]) == [("daphne.response.%s!s%d" % (process, s), {"text": "hello"}) for s in (0, 1)]
        assert got[2] == (None, None)
    # Each process channel holds 2: the next broadcast fits, the one after it is refused and logged.
    worker.send_group("chat.room.1", {"text": "again"})
    with caplog.at_level("WARNING", logger="redis_layer.layer"):
        worker.send_group("chat.room.1", {"text": "too much"})
    [record] = [r for r in caplog.records if r.name == "redis_layer.layer"]
    assert "Group chat.room.1: 12 member(s) not sent this message" in record.getMessage()


def test_a_send_counts_its_statistics_as_asgi_redis_does(layer):
    chat = layer(capacity=1)
    chat.send("stats.test", {"n": 1})
    with pytest.raises(chat.ChannelFull):
        chat.send("stats.test", {"n": 2})
    assert chat.channel_statistics("stats.test") == dict(
        messages_count=1, messages_pending=1, messages_max_age=0, channel_full_count=1)


@pytest.mark.parametrize("message", [
    {"text": "hi"},
    {},
    {"bytes": b"\x00\xff", "close": True, "text": "é" * 300},
    {"k%d" % number: number for number in range(20)},  # past a fixmap's 15 entries
])
def test_a_broadcast_packed_once_unpacks_as_asgi_redis_packs_each_copy(message, redis_url):
    import msgpack
    from redis_layer.packing import _ProcessChannelPacker
    chat = ChatChannelLayer(hosts=[redis_url])
    packed = _ProcessChannelPacker(message)("daphne.response.abc!xyz")
    assert msgpack.unpackb(packed, encoding="utf8") == chat.deserialize(chat.serialize(
        dict(message, __asgi_channel__="daphne.response.abc!xyz")))


@pytest.mark.parametrize("size", [0, 31, 32, 255, 256, 65535, 65536])
def test_a_channel_name_is_packed_as_msgpack_packs_it(size):
    import msgpack
    from redis_layer.packing import _packed_str
    text = "é" * (size // 2) + "x" * (size % 2)
    assert _packed_str(text) == msgpack.packb(text, use_bin_type=True)


def test_a_group_send_refuses_exactly_the_members_whose_list_is_full_and_counts_them(redis_url, caplog):
    # Members of three Daphnes, interleaved: the one whose list has room for
    # 1 more gets its first socket's copy only.
    worker = ChatChannelLayer(hosts=[redis_url], channel_capacity={"daphne.response.*": 3})
    worker.flush()
    worker.send("daphne.response.tight!x", {"text": "one"})
    worker.send("daphne.response.tight!x", {"text": "two"})
    for socket in range(3):
        for process in ("roomy", "tight", "other"):
            worker.group_add("chat.room.9", "daphne.response.%s!s%d" % (process, socket))
    with caplog.at_level("WARNING", logger="redis_layer.layer"):
        worker.send_group("chat.room.9", {"text": "hello"})
    [record] = [r for r in caplog.records if r.name == "redis_layer.layer"]
    assert "Group chat.room.9: 2 member(s) not sent this message" in record.getMessage()
    tight = [worker.receive(["daphne.response.tight!"]) for _ in range(4)]
    assert [message["text"] for _, message in tight[:3]] == ["one", "two", "hello"]
    assert tight[3] == (None, None)
    assert len([worker.receive(["daphne.response.roomy!"]) for _ in range(3)]) == 3
    stats = worker.channel_statistics("daphne.response.tight!")
    assert (stats["messages_count"], stats["channel_full_count"]) == (3, 2)
    assert worker.global_statistics() == {"messages_count": 9, "channel_full_count": 2}


def test_a_full_receive_channel_answers_busy_keeps_the_socket_and_renumbers_its_later_frames(redis_url, clock):
    chat = ChatChannelLayer(hosts=[redis_url], clock=clock, frame_rate=0, connect_rate=0,
                            channel_capacity={"websocket.receive": 2})
    chat.act_as_interface_server()
    chat.flush()
    connect(chat, "daphne.response.x!busy")
    for order in (1, 2):
        frame(chat, "daphne.response.x!busy", order=order)
    # The workers are behind: the third frame does not fit, and is answered instead of closing the socket.
    frame(chat, "daphne.response.x!busy", text='{"message": "hi", "client_id": "c-3"}', order=3)
    _, answer = chat.receive(["daphne.response.x!"])
    error = json.loads(answer["text"])
    assert (error["code"], error["retry_after"], error["client_id"]) == ("rate_limited", 1, "c-3")
    assert [chat.receive(["websocket.receive"])[1]["order"] for _ in range(2)] == [1, 2]
    # Its next frame and its disconnect take the numbers after the last one sent on.
    frame(chat, "daphne.response.x!busy", order=4)
    assert chat.receive(["websocket.receive"])[1]["order"] == 3
    chat.send("websocket.disconnect", {"reply_channel": "daphne.response.x!busy", "path": "/chat/a/", "order": 5})
    assert chat.receive(["websocket.disconnect"])[1]["order"] == 4
    assert chat.receive(["websocket.disconnect"]) == (None, None)  # no disconnect was made up
