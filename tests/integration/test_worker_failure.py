"""
Losing a worker: with one of two runworkers killed, the other keeps
serving HTTP and chat. Destructive, so it has a stack of its own.
"""
import signal

import pytest

from tests.support.processes import chat_stack

from .conftest import assert_message_frame

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A private stack: these tests kill and start workers."""
    with chat_stack(tmp_path_factory.mktemp("chat-stack-failure"), workers=2) as running:
        yield running


def chat_round(sender, listeners, label, text):
    sender.say("alice", text)
    frame = assert_message_frame(sender.recv_json(), label, "alice", text)
    for listener in listeners:
        assert listener.recv_json() == frame
    return frame


def test_remaining_worker_keeps_serving_after_the_other_is_killed(stack, new_room, join, http_get, db):
    label = new_room("survivor")
    before_alice, before_bob = join(label), join(label)
    chat_round(before_alice, [before_bob], label, "before the crash")

    victim, survivor = stack.workers
    victim.kill()  # SIGKILL, by pid
    assert victim.returncode == -signal.SIGKILL
    assert survivor.alive()

    # Sockets opened before the crash keep chatting (several frames, so
    # some would have gone to the dead worker if it were still counted).
    for number in range(10):
        chat_round(before_alice, [before_bob], label, "after the crash %d" % number)

    # New sockets and HTTP work too.
    newcomer = join(label, after=0)
    replayed = newcomer.recv_many(11)
    assert [frame["message"] for frame in replayed] == (
        ["before the crash"] + ["after the crash %d" % n for n in range(10)])
    chat_round(newcomer, [before_alice, before_bob], label, "from the newcomer")
    for _ in range(5):
        assert http_get("/").status == 200
    assert http_get("/%s/" % label).status == 200
    assert len(db.messages(label)) == 12
    assert survivor.alive()


def test_a_replacement_worker_joins_the_pool(stack, new_room, join):
    replacement = stack.start_worker()
    assert replacement.alive()
    label = new_room("replacement")
    alice, bob = join(label), join(label)
    for number in range(10):
        chat_round(alice, [bob], label, "with the replacement %d" % number)
    assert replacement.alive()
