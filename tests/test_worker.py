"""
Stopping a worker (chat/worker.py): a shutdown signal never costs a message
the worker has taken, with one thread or several. Channels' own loops are
shown beside ours: theirs exit at once.
"""
import signal
import threading

import pytest
from channels import worker as stock

from chat.worker import Worker, WorkerGroup

# channels' loop closes stale database connections around every message.
pytestmark = pytest.mark.django_db

CHANNEL = "websocket.receive"


class Layer:
    """Just enough of a channel layer for channels' worker loop: hands out
    `messages`, then nothing; `on_receive` runs inside every receive."""

    def __init__(self, messages, consumer, on_receive=None):
        self.messages = list(messages)
        self.router = Router(consumer)
        self.on_receive = on_receive
        self.lock = threading.Lock()

    def receive_many(self, channels, block=False):
        if self.on_receive is not None:
            self.on_receive()
        with self.lock:
            if self.messages:
                return CHANNEL, self.messages.pop(0)
        return None, None


class Router:
    channels = [CHANNEL]

    def __init__(self, consumer):
        self.consumer = consumer

    def match(self, message):
        return self.consumer, {}


def signal_worker(worker):
    worker.sigterm_handler(signal.SIGTERM, None)


def test_a_signal_just_as_a_message_is_taken_does_not_lose_it():
    handled = []
    layer = Layer([{"text": "taken"}], lambda message: handled.append(message.content["text"]))
    worker = Worker(layer, signal_handlers=False)
    # The signal arrives inside receive: after Redis gave the message up,
    # before its consumer started.
    layer.on_receive = lambda: signal_worker(worker)
    worker.run()
    assert handled == ["taken"]


def test_channels_own_worker_exits_with_that_message_unhandled():
    handled = []
    layer = Layer([{"text": "taken"}], lambda message: handled.append(message.content["text"]))
    worker = stock.Worker(layer, signal_handlers=False)
    layer.on_receive = lambda: signal_worker(worker)
    with pytest.raises(SystemExit):
        worker.run()
    assert handled == []


def test_an_idle_worker_stops_when_its_wait_ends_and_takes_nothing_more():
    handled = []
    layer = Layer([], lambda message: handled.append(message.content["text"]))
    worker = Worker(layer, signal_handlers=False)
    receive, receives = layer.receive_many, []

    def a_message_arrives_after_the_wait(channels, block=False):
        receives.append(channels)
        if len(receives) == 1:
            signal_worker(worker)  # inside its wait, with nothing to take
        taken = receive(channels, block)
        layer.messages.append({"text": "for another worker"})
        return taken
    layer.receive_many = a_message_arrives_after_the_wait
    ended = []

    def run():
        try:
            worker.run()
            ended.append("returned")
        except BaseException as error:  # SystemExit included: a thread would swallow it
            ended.append(error)
    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(10)
    finished = not runner.is_alive()
    worker.termed = True  # lets a loop that ignored the signal end, if the assertions below fail
    assert finished, "the worker went on waiting after the signal"
    assert ended == ["returned"]  # no SystemExit: it stopped between messages
    assert len(receives) == 1  # it waited once, and asked for nothing after the signal
    assert handled == [] and layer.messages == [{"text": "for another worker"}]  # left for the others


def test_a_second_signal_exits_at_once():
    worker = Worker(Layer([], consumer=None), signal_handlers=False)
    signal_worker(worker)
    with pytest.raises(SystemExit):
        signal_worker(worker)


class Blocking:
    """A consumer that holds every message until released."""

    def __init__(self, expected):
        self.release = threading.Event()
        self.started = threading.Barrier(expected + 1, timeout=10)
        self.finished = []

    def __call__(self, message):
        self.started.wait()
        self.release.wait(10)
        self.finished.append(message.content["text"])


def test_threads_finish_the_messages_in_hand_before_the_worker_exits():
    consumer = Blocking(expected=2)
    group = WorkerGroup(Layer([{"text": "one"}, {"text": "two"}], consumer), n_threads=2, signal_handlers=False)
    runner = threading.Thread(target=group.run)
    runner.start()
    consumer.started.wait()  # both threads are inside a consumer
    signal_worker(group)
    threading.Timer(0.5, consumer.release.set).start()
    runner.join(10)
    assert not runner.is_alive()
    assert sorted(consumer.finished) == ["one", "two"]


def test_channels_own_threads_are_abandoned_at_once():
    consumer = Blocking(expected=2)
    group = stock.WorkerGroup(Layer([{"text": "one"}, {"text": "two"}], consumer), n_threads=2,
                              signal_handlers=False)
    runner = threading.Thread(target=group.run, daemon=True)
    runner.start()
    consumer.started.wait()
    with pytest.raises(SystemExit):  # in a real worker: the process ends here
        signal_worker(group)
    assert consumer.finished == []
    consumer.release.set()
    for loop in [group] + group.workers:
        loop.termed = True
    runner.join(10)
