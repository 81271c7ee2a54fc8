"""
The channel layers as installed here (and the project's subclass) (asgi_redis 1.4.3 on msgpack-python
0.5.6's pure-Python codec, asgiref 1.1.2's in-memory layer, Python 3.11)
against the ASGI spec's own conformance suite, asgiref.conformance.

The Redis layer runs against a private redis-server on a free port.
"""

from asgi_redis import RedisChannelLayer
from asgiref import conformance
from asgiref.inmemory import ChannelLayer as InMemoryChannelLayer

from proj.layers import ChatChannelLayer
from tests.support.processes import ModuleRedis

_redis = ModuleRedis("conformance-")


def setUpModule():
    _redis.start()


def tearDownModule():
    _redis.stop()


class RedisLayerConformanceTests(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5
    layer_class = RedisChannelLayer

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel_layer = cls.layer_class(
            hosts=[_redis.url],
            expiry=1,
            group_expiry=2,
            capacity=cls.capacity_limit,
        )

    def test_layer_runs_the_pure_python_codec_it_was_pinned_for(self):
        import msgpack
        self.assertEqual(msgpack.version[:2], (0, 5))
        self.assertEqual(msgpack.Packer.__module__, "msgpack.fallback")


class ChatLayerConformanceTests(RedisLayerConformanceTests):
    """The project's subclass (proj/layers.py), metering as in Daphne."""
    layer_class = ChatChannelLayer

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel_layer.meter_clients()


class InMemoryLayerConformanceTests(conformance.ConformanceTestCase):
    expiry_delay = 1.1
    capacity_limit = 5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel_layer = InMemoryChannelLayer(expiry=1, group_expiry=2, capacity=cls.capacity_limit)
