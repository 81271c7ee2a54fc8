"""
The channel layers as installed here (and the project's subclass) (asgi_redis 1.4.3 on msgpack-python
0.5.6's pure-Python codec, asgiref 1.1.2's in-memory layer, Python 3.11)
against the ASGI spec's own conformance suite, asgiref.conformance.

The project's layer overrides send, receive, group_channels and send_group
(fewer round trips) and adds receive_twisted: each runs the suite as
Daphne uses it (metering), through receive_twisted, and on two shards.
The Redis layers run against private redis-servers on free ports.
"""
import queue
import time

from asgi_redis import RedisChannelLayer
from asgiref import conformance
from asgiref.inmemory import ChannelLayer as InMemoryChannelLayer
from twisted.python.failure import Failure

from interface.layer import ChatChannelLayer
from interface.twisted_receive import TwistedReceiver
from tests.support.redis_server import ModuleRedis

_redis = ModuleRedis("conformance-")
_second_shard = ModuleRedis("conformance-shard-")


def setUpModule():
    _redis.start()
    _second_shard.start()


def tearDownModule():
    _redis.stop()
    _second_shard.stop()


class PumpedReactor:
    """As much of a Twisted reactor as TwistedReceiver uses, run by the
    test's own thread: what the receiving thread hands over waits here
    until wait() runs it."""

    def __init__(self):
        self.calls = queue.Queue()

    def callFromThread(self, function, *args):
        self.calls.put((function, args))

    def addSystemEventTrigger(self, *args, **kwargs):
        pass

    def wait(self, deferred, timeout=10):
        """Run handed-over calls until `deferred` fires; its result, or its error raised."""
        results = []
        deferred.addBoth(results.append)
        deadline = time.monotonic() + timeout
        while not results:
            function, args = self.calls.get(timeout=max(0.01, deadline - time.monotonic()))
            function(*args)
        if isinstance(results[0], Failure):
            results[0].raiseException()
        return results[0]


class RedisLayerConformanceTests(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5
    layer_class = RedisChannelLayer

    @classmethod
    def hosts(cls):
        return [_redis.url]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel_layer = cls.layer_class(
            hosts=cls.hosts(),
            expiry=1,
            group_expiry=2,
            capacity=cls.capacity_limit,
        )

    def test_layer_runs_the_pure_python_codec_it_was_pinned_for(self):
        import msgpack
        self.assertEqual(msgpack.version[:2], (0, 5))
        self.assertEqual(msgpack.Packer.__module__, "msgpack.fallback")


class ChatLayerConformanceTests(RedisLayerConformanceTests):
    """The project's layer (interface/layer.py), acting as in Daphne."""
    layer_class = ChatChannelLayer

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel_layer.act_as_interface_server()


class ChatLayerTwistedConformanceTests(ChatLayerConformanceTests):
    """Every receive through receive_twisted, as Daphne's Twisted mode reads."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.reactor = PumpedReactor()
        cls.channel_layer.twisted_receiver = TwistedReceiver(cls.channel_layer, reactor=cls.reactor)
        cls.channel_layer.twisted_receiver.BLOCK = 0.2  # an empty read's wait: the suite expects many

    @classmethod
    def tearDownClass(cls):
        cls.channel_layer.twisted_receiver.stop()
        super().tearDownClass()

    def receive(self, channels):
        for _ in range(self.receive_tries):
            channel, message = self.reactor.wait(self.channel_layer.receive_twisted(channels))
            if channel is not None:
                return channel, message
        return None, None

    def test_advertises_the_twisted_extension(self):
        self.assertIn("twisted", self.channel_layer.extensions)


class TwoShards:
    """On two redis-servers (REDIS_URLS). A channel that is not
    process-specific is read from one shard per receive, in turn (asgi_redis),
    so the suite tries each."""
    receive_tries = 2

    @classmethod
    def hosts(cls):
        return [_redis.url, _second_shard.url]

    def test_capacity(self):
        """asgi_redis sends to a shared channel on each shard in turn, and
        each shard holds the capacity: the suite's single-server count,
        per shard (the stock layer the same)."""
        for _ in range(2 * self.capacity_limit):
            self.channel_layer.send("cap_test", {"hey": "there"})
        with self.assertRaises(self.channel_layer.ChannelFull):
            self.channel_layer.send("cap_test", {"hey": "there"})


class RedisLayerTwoShardConformanceTests(TwoShards, RedisLayerConformanceTests):
    pass


class ChatLayerTwoShardConformanceTests(TwoShards, ChatLayerConformanceTests):
    pass


class ChatLayerTwistedTwoShardConformanceTests(TwoShards, ChatLayerTwistedConformanceTests):
    pass


class InMemoryLayerConformanceTests(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel_layer = InMemoryChannelLayer(expiry=1, group_expiry=2, capacity=cls.capacity_limit)
