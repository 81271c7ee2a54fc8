"""
chat/ordering.py: one socket's background jobs run in the order they were
numbered, whichever worker takes which. The same tests run on the Redis
store (a private redis-server) and on the in-process one.
"""
import random
import threading
import time
import unittest

from asgi_redis import RedisChannelLayer
from asgiref.inmemory import ChannelLayer as InMemoryChannelLayer
from channels.message import Message
from django.test import SimpleTestCase

from chat.ordering import ENDED_SOCKET_TTL, JOB_NUMBER_KEY, LocalJobOrder, RedisJobOrder, in_socket_order, job_order
from tests.support.processes import ModuleRedis

_redis = ModuleRedis("ordering-")


def setUpModule():
    _redis.start()


def tearDownModule():
    _redis.stop()


class FakeWrapper:
    """What consumers see as message.channel_layer: channels' wrapper."""

    def __init__(self, layer):
        self.channel_layer = layer


def job(reply_channel, number, text=None):
    return {"reply_channel": reply_channel, JOB_NUMBER_KEY: number, "text": text or "job %d" % number}


class JobOrderTests:
    """Shared by both stores; subclasses set self.layer."""

    def setUp(self):
        self.order = job_order(self.layer)
        self.socket = "daphne.response.test!%s" % random.getrandbits(64)

    def test_jobs_in_order_run_at_once(self):
        self.assertEqual(self.order.claim(self.socket, 0, job(self.socket, 0)), 1)
        self.assertIsNone(self.order.finish(self.socket, 0))
        self.assertEqual(self.order.claim(self.socket, 1, job(self.socket, 1)), 1)

    def test_a_job_ahead_of_its_turn_is_parked_and_handed_to_whoever_finishes_the_one_before(self):
        self.assertEqual(self.order.claim(self.socket, 0, job(self.socket, 0)), 1)
        self.assertEqual(self.order.claim(self.socket, 2, job(self.socket, 2)), 0)
        self.assertEqual(self.order.claim(self.socket, 1, job(self.socket, 1)), 0)
        self.assertEqual(self.order.finish(self.socket, 0), job(self.socket, 1))
        self.assertEqual(self.order.finish(self.socket, 1), job(self.socket, 2))
        self.assertIsNone(self.order.finish(self.socket, 2))

    def test_a_job_that_ran_already_is_refused(self):
        self.order.claim(self.socket, 0, job(self.socket, 0))
        self.order.finish(self.socket, 0)
        self.assertEqual(self.order.claim(self.socket, 0, job(self.socket, 0)), -1)

    def test_sockets_do_not_wait_for_each_other(self):
        other = self.socket + "x"
        self.assertEqual(self.order.claim(self.socket, 1, job(self.socket, 1)), 0)
        self.assertEqual(self.order.claim(other, 0, job(other, 0)), 1)

    def test_jobs_queued_before_the_disconnect_still_run_in_order(self):
        self.assertEqual(self.order.claim(self.socket, 0, job(self.socket, 0)), 1)
        self.order.end(self.socket, jobs_sent=3)
        self.assertEqual(self.order.claim(self.socket, 2, job(self.socket, 2)), 0)
        self.assertIsNone(self.order.finish(self.socket, 0))
        self.assertEqual(self.order.claim(self.socket, 1, job(self.socket, 1)), 1)
        self.assertEqual(self.order.finish(self.socket, 1), job(self.socket, 2))
        self.assertIsNone(self.order.finish(self.socket, 2))
        self.assertNoStateLeft()

    def test_a_socket_whose_jobs_are_all_done_leaves_nothing_at_its_disconnect(self):
        self.order.claim(self.socket, 0, job(self.socket, 0))
        self.order.finish(self.socket, 0)
        self.order.end(self.socket, jobs_sent=1)
        self.assertNoStateLeft()

    def test_many_workers_run_one_sockets_jobs_in_order_and_each_once(self):
        """Four threads take jobs off one shuffled-ish queue, as workers take
        them off chat.messages: the consumer sees 0..n-1 in order, never two
        at once."""
        count = 200
        queue = [job(self.socket, number) for number in range(count)]
        # Neighbours swapped: the layer hands them out in about this order.
        for index in range(0, count - 1, 2):
            if random.random() < 0.5:
                queue[index], queue[index + 1] = queue[index + 1], queue[index]
        queue_lock = threading.Lock()
        ran, running = [], []

        @in_socket_order
        def consumer(message):
            running.append(1)
            self.assertEqual(len(running), 1, "two jobs of one socket ran at once")
            time.sleep(random.random() / 2000)
            ran.append(message.content[JOB_NUMBER_KEY])
            running.pop()

        def worker():
            while True:
                with queue_lock:
                    if not queue:
                        return
                    content = queue.pop(0)
                consumer(Message(content, "chat.messages", FakeWrapper(self.layer)))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        self.assertEqual(ran, list(range(count)))

    def test_a_failing_job_does_not_hold_up_the_next(self):
        ran = []

        @in_socket_order
        def consumer(message):
            number = message.content[JOB_NUMBER_KEY]
            ran.append(number)
            if number == 0:
                raise RuntimeError("the database is down")

        wrapper = FakeWrapper(self.layer)
        consumer(Message(job(self.socket, 1), "chat.messages", wrapper))
        with self.assertLogs("chat.ordering", "ERROR"):
            consumer(Message(job(self.socket, 0), "chat.messages", wrapper))
        self.assertEqual(ran, [0, 1])
        self.assertEqual(self.order.claim(self.socket, 2, job(self.socket, 2)), 1)


class RedisJobOrderTests(JobOrderTests, SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.layer = RedisChannelLayer(hosts=[_redis.url])

    def test_the_redis_store_is_used(self):
        self.assertIsInstance(self.order, RedisJobOrder)

    def connection(self):
        return self.layer.connection(self.layer.consistent_hash(self.socket))

    def assertNoStateLeft(self):
        self.assertEqual([self.connection().exists(key) for key in self.order._keys(self.socket)], [0, 0, 0])

    def test_a_socket_ended_with_a_job_lost_expires_soon_and_a_live_one_does_not(self):
        self.order.claim(self.socket, 0, job(self.socket, 0))
        self.order.finish(self.socket, 0)
        self.order.claim(self.socket, 2, job(self.socket, 2))  # job 1 never comes
        next_key, parked_key, last_key = self.order._keys(self.socket)
        self.assertGreater(min(self.connection().ttl(key) for key in (next_key, parked_key)), ENDED_SOCKET_TTL)
        self.order.end(self.socket, jobs_sent=4)
        self.order.claim(self.socket, 3, job(self.socket, 3))  # a late job keeps the short TTL
        self.assertTrue(all(0 < self.connection().ttl(key) <= ENDED_SOCKET_TTL
                            for key in (next_key, parked_key, last_key)))


class LocalJobOrderTests(JobOrderTests, SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.layer = InMemoryChannelLayer()

    def test_the_in_process_store_is_used(self):
        self.assertIsInstance(self.order, LocalJobOrder)

    def assertNoStateLeft(self):
        for state in (self.order.next_numbers, self.order.parked, self.order.last, self.order.ended):
            self.assertNotIn(self.socket, state)

if __name__ == "__main__":
    unittest.main()
