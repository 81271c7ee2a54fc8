"""
A short soak (about a minute of load): 1,000 sockets in all come and go,
about 150 open at a time over 10 rooms, while they chat steadily. Nothing
acknowledged may be lost or saved twice, no bystander closed, and once every
socket is closed the channel sessions, the rooms' Groups and Redis are back
where they started, with no process's memory running away.

The load, the samples and the checks are bench/soak.py's (run_soak); that
tool runs the long version (`.venv/bin/python bench/soak.py --minutes 10`).
Every socket comes from 127.0.0.1, so the stack has tests/support's loosened
TEST_BUDGETS: the shipped 5 new sockets a second per address would refuse
the churn. The stack is this module's own: the load would disturb the
shared one's tests, and its counts must start from zero.
"""
import pytest

from bench.harness.stacks import ProjectStack
from bench.soak import SoakConfig, report, run_soak

pytestmark = pytest.mark.integration

TOTAL_SOCKETS = 1000
OPEN_AT_ONCE = 150
LOAD_SECONDS = 60
# Process RSS may grow at most this much from the reference sample (15 s into
# the load) to the end of the load: a Python process's heap settles within
# a few MiB under this load, while a leak of a few KiB per socket or message
# (1,000 sockets, ~300 messages) would pass it only if it were tiny.
RSS_GROWTH_MIB = 12.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A private stack on SQLite, as the benchmark harness starts it (deploy/daphne.sh, two
    deploy/worker.sh), with the loosened test budgets and without runpresence."""
    with ProjectStack(str(tmp_path_factory.mktemp("chat-stack-soak")), workers=2, presence=False,
                      budgets="test") as running:
        yield running


@pytest.fixture(scope="module")
def soak(stack):
    cfg = SoakConfig(
        sockets=OPEN_AT_ONCE,
        rooms=10,
        # Churn that opens the rest of the 1,000 within about LOAD_SECONDS.
        churn=(TOTAL_SOCKETS - OPEN_AT_ONCE) / float(LOAD_SECONDS),
        chat_rate=5.0,
        total=TOTAL_SOCKETS,
        duration=3 * LOAD_SECONDS,  # a slow machine takes longer; this only bounds it
        interval=5.0,
        warmup=15.0,
        quiet=5.0,
        connect_rate=50.0,
        rss_tolerance=0.0,
        rss_margin_mib=RSS_GROWTH_MIB,
        # Sessions, Group members: "about" the open sockets means within 3.
        count_tolerance=0.0,
        count_margin=3,
    )
    lines = []
    result = run_soak(stack, stack.env["DATABASE_URL"], cfg, log=lines.append)
    result.text = report(result, {"workers": len(stack.workers), "command": "tests/integration/test_soak.py",
                                  "database": "SQLite", "redis": "private redis-server"})
    print(result.text)  # shown by pytest when a test fails (-rA shows it always)
    return result


def verdict(result, name):
    for checked, ok, detail in result.verdicts:
        if checked == name:
            return ok, detail
    raise AssertionError("no verdict %r in %s" % (name, [v[0] for v in result.verdicts]))


def test_a_thousand_sockets_came_and_went_while_chatting(soak):
    assert soak.counts["opened"] == TOTAL_SOCKETS, soak.text
    assert soak.counts["connect_failed"] == 0, soak.text
    assert soak.counts["closed"] == TOTAL_SOCKETS, soak.text
    assert soak.peak_open == OPEN_AT_ONCE, soak.text
    # Steady chat: ~5 a second for about a minute, every one answered.
    assert soak.audit["sent"] >= 200, soak.text
    assert soak.audit["acked"] == soak.audit["sent"], soak.text
    assert soak.audit["errored"] == 0, soak.text


def test_no_acknowledged_message_is_lost_or_saved_twice(soak):
    audit = soak.audit
    assert audit["lost_acked"] == [], soak.text
    assert audit["lost_sent"] == [], soak.text
    assert audit["duplicated"] == [], soak.text
    assert audit["id_mismatch"] == [], soak.text
    assert audit["persisted"] == audit["sent"] == audit["rows"], soak.text
    assert soak.counts["echo_out_of_order"] == 0, soak.text


def test_no_socket_is_closed_by_the_server_unasked(soak):
    assert soak.counts["closed_by_server"] == 0, soak.text
    assert soak.counts["close_timeouts"] == 0, soak.text


def test_sessions_groups_and_redis_keys_return_to_where_they_started(soak):
    for name in ("sessions = open sockets (load)", "Group members = open sockets (load)",
                 "sessions back to 0", "Group members back to 0", "Redis keys back to baseline",
                 "Redis keys flat under load"):
        ok, detail = verdict(soak, name)
        assert ok, "%s: %s\n%s" % (name, detail, soak.text)


def test_process_memory_does_not_run_away(soak):
    for name in ("daphne RSS flat", "worker1 RSS flat", "worker2 RSS flat", "Redis used_memory flat",
                 "processes alive"):
        ok, detail = verdict(soak, name)
        assert ok, "%s: %s\n%s" % (name, detail, soak.text)
