"""
A short soak (about a minute of load) through the benchmark harness: 1,000
sockets in all come and go, 150 open at a time over 10 rooms, while they
chat steadily. Every message is answered by its echo and saved exactly once,
no socket is closed by the server, and once every socket has closed the
channel sessions, the rooms' Groups and Redis are back where they started,
with no process's memory running away. `bench/soak.py` runs the long
version with samples and a report.

The stack is this module's own (the harness's ProjectStack with two workers,
no runpresence, the test budgets): the load would disturb the shared one's
tests, and its counts must start from zero. Each socket comes from a
loopback address of its own (bench/harness/churn.py).
"""
import asyncio
import time

import pytest

from bench.harness.chatter import audit
from bench.harness.churn import Churn
from bench.harness.measure import rss_bytes
from bench.harness.stacks import ProjectStack
from bench.harness.stores import Stores

pytestmark = pytest.mark.integration

TOTAL_SOCKETS = 1000
OPEN_AT_ONCE = 150
LOAD_SECONDS = 60
WARMUP_SECONDS = 15
# Process RSS may grow at most this much from 15 s into the load to its end: a Python
# process's heap settles within a few MiB under this load, while a leak of a few KiB per
# socket or message (1,000 sockets, ~300 messages) would not.
RSS_GROWTH_MIB = 12.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with ProjectStack(str(tmp_path_factory.mktemp("chat-stack-soak")), workers=2, presence=False,
                      budgets="test") as running:
        yield running


async def until(check, timeout):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def short_soak(stack):
    loop = asyncio.get_running_loop()
    stores = Stores(stack)
    seen = {"redis_keys_before": stores.redis_keys()}
    rooms = ["soak-%d-%d" % (int(time.time()), number) for number in range(10)]
    await loop.run_in_executor(None, stack.create_rooms, rooms)
    churn = Churn(stack, rooms, total=TOTAL_SOCKETS)
    driver = asyncio.ensure_future(churn.run())
    processes = {"daphne": stack.daphne, "worker-1": stack.workers[0], "worker-2": stack.workers[1]}
    try:
        churn.configure(target=OPEN_AT_ONCE)
        seen["ramped"] = await until(lambda: len(churn.active) >= OPEN_AT_ONCE, 120)
        seen["peak_open"] = len(churn.active)
        # Churn that opens the rest of the 1,000 within about LOAD_SECONDS, and steady chat.
        churn.configure(churn=(TOTAL_SOCKETS - OPEN_AT_ONCE) / float(LOAD_SECONDS), chat_rate=5.0)
        await asyncio.sleep(WARMUP_SECONDS)
        seen["rss_reference"] = {name: rss_bytes(process.pid) for name, process in processes.items()}
        seen["all_requested"] = await until(lambda: churn.requested >= TOTAL_SOCKETS, 3 * LOAD_SECONDS)
        churn.configure(churn=0.0, chat_rate=0.0, open_new=False)
        await until(lambda: churn.snapshot()["pending"] == 0 and churn.connecting == 0, 60)
        seen["rss_end"] = {name: rss_bytes(process.pid) for name, process in processes.items()}
        seen["open_under_load"] = len(churn.active)
        seen["sessions_under_load"] = sum(await loop.run_in_executor(None, stores.sessions))
        seen["members_under_load"] = (await loop.run_in_executor(None, stores.groups))[2]
        churn.configure(closing_all=True)
        await until(lambda: not churn.live, 120)

        def settled():
            return sum(stores.sessions()) == 0 and stores.groups()[1] == 0
        seen["settled"] = await until(settled, 60)
    finally:
        churn.stop()
        await driver
    seen["redis_keys_after"] = stores.redis_keys()
    seen["sessions_after"], seen["members_after"] = sum(stores.sessions()), stores.groups()[1]
    seen["counts"], seen["lost"], seen["failure"] = churn.counts, churn.lost, churn.failure
    seen["crashes"] = [chatter.crash for chatter in churn.chatters if chatter.crash]
    seen["audit"] = audit(churn.chatters, stores.messages(rooms))
    seen["alive"] = {process.name: process.alive() for process in stack.processes()}
    return seen


@pytest.fixture(scope="module")
def soak(stack):
    seen = asyncio.run(short_soak(stack))
    assert seen["failure"] is None and not seen["crashes"], seen
    return seen


def test_a_thousand_sockets_came_and_went_while_chatting(soak):
    counts = soak["counts"]
    assert soak["ramped"] and soak["peak_open"] == OPEN_AT_ONCE, soak
    assert soak["all_requested"], soak
    assert counts["opened"] == TOTAL_SOCKETS and counts["connect_failed"] == 0, counts
    assert counts["closed"] == TOTAL_SOCKETS and counts["closed_by_client"] == TOTAL_SOCKETS, counts


def test_every_message_is_echoed_to_its_sender_and_saved_exactly_once(soak):
    audit = soak["audit"]
    # Steady chat: about 5 a second for about a minute.
    assert audit["sent"] >= 200, audit["sent"]
    assert audit["acked"] == audit["sent"] == audit["saved"] == audit["rows"], audit
    assert audit["errored"] == 0 and audit["unacked"] == [], audit
    assert audit["lost_acked"] == [] and audit["lost_sent"] == [], audit
    assert audit["duplicated"] == [] and audit["foreign_rows"] == 0, audit
    assert audit["id_mismatch"] == [], audit
    assert soak["counts"]["echo out of order"] == 0


def test_no_socket_is_closed_by_the_server_unasked(soak):
    assert soak["counts"]["closed_by_server"] == 0, soak["lost"]
    assert soak["counts"]["close_timeouts"] == 0, soak["counts"]


def test_sessions_groups_and_redis_keys_return_to_where_they_started(soak):
    # Under load: one channel session and one Group member per open socket (within 3).
    assert abs(soak["sessions_under_load"] - soak["open_under_load"]) <= 3, soak
    assert abs(soak["members_under_load"] - soak["open_under_load"]) <= 3, soak
    assert soak["settled"], soak
    assert soak["sessions_after"] == 0 and soak["members_after"] == 0, soak
    # The rooms' Groups are gone; what may stay is stats counters and in-flight messages.
    assert soak["redis_keys_after"] <= soak["redis_keys_before"] + 20, soak


def test_processes_stay_up_and_their_memory_does_not_run_away(soak):
    assert all(soak["alive"].values()), soak["alive"]
    for name, reference in soak["rss_reference"].items():
        growth = (soak["rss_end"][name] - reference) / 1024.0 / 1024.0
        assert growth <= RSS_GROWTH_MIB, "%s grew %.1f MiB" % (name, growth)
