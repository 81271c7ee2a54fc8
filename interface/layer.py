"""
The channel layer settings name (CHANNEL_LAYERS BACKEND): redis_layer's,
with the jobs that only an interface server runs. Every process builds it;
only Daphne turns those jobs on (asgi.py: `act_as_interface_server()`),
so in a worker or in runpresence it is redis_layer.RedisLayer exactly.
Workers send to websocket.receive too (enforce_ordering puts a parked frame
back), and there nothing is metered.

In Daphne, each send of a client's event passes the budgets
(interface/budgets.py); a frame the full websocket.receive refuses is
answered busy (interface/busy.py); a socket Daphne closes for a refused
frame gets its disconnect sent (interface/disconnects.py). After each read
of the layer, also one that found nothing: the sockets are closed if
Redis restarted, published to the registry (interface/publishing.py), and
garbage is collected (interface/collection.py). Daphne reads in Twisted
mode (interface/twisted_receive.py).
"""
import time

import redis

from interface.budgets import Budgets
from interface.busy import BusyAnswers
from interface.collection import Collection
from interface.disconnects import Disconnects
from interface.publishing import Publishing
from interface.twisted_receive import TwistedReceiver
from redis_layer.layer import QUEUED_AT_KEY, RedisLayer


class ChatChannelLayer(Budgets, BusyAnswers, Disconnects, Publishing, Collection, RedisLayer):
    """RedisLayer, and in an interface server its budgets, busy answers,
    disconnects, restart detection, socket publishing and garbage collection."""

    # Daphne reads its process channel with receive_twisted (Twisted mode).
    extensions = RedisLayer.extensions + [
        extension for extension in ["twisted"] if extension not in RedisLayer.extensions]

    def __init__(self, clock=time.monotonic, **config):
        self.clock = clock
        self.interface_server = False
        super().__init__(**config)
        self.twisted_receiver = TwistedReceiver(self)

    def act_as_interface_server(self):
        """Turn on the jobs above: for Daphne's process only (asgi.py)."""
        self.interface_server = True

    def send(self, channel, message):
        if not self.interface_server:
            return self._send(channel, message)
        try:
            admitted = self._admit(channel, message)
        except self.ChannelFull:
            if channel == "websocket.receive":  # over its budgets: Daphne closes it
                self._disconnect_for_daphne(self._renumbered(message))
            raise
        try:
            return self._send(channel, admitted)
        except self.ChannelFull:
            if channel != "websocket.receive" or not self._answer_busy(admitted):
                if channel == "websocket.receive":
                    self._disconnect_for_daphne(admitted)
                raise

    def _admit(self, channel, message):
        if channel == "websocket.receive":
            return self._admit_frame(self._renumbered(message))
        if channel == "websocket.connect":
            self._admit_connect(message)
            return dict(message, **{QUEUED_AT_KEY: time.time()})
        elif channel == "websocket.disconnect":
            message = self._renumbered(message)
            self._forget_socket(message.get("reply_channel"))
        return message

    def _forget_socket(self, reply_channel):
        self._socket_closed()
        self._sockets.pop(reply_channel, None)
        self._skipped.pop(reply_channel, None)

    def receive(self, channels, block=False):
        try:
            received = self.receive_batch(channels, block)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            self.receive_failed(error)
            raise
        self.received(channels)
        return received[0] if received else (None, None)

    def receive_twisted(self, channels):
        """The `twisted` extension: a Deferred firing with (channel,
        message), or (None, None) after a second with nothing; Daphne calls
        it instead of polling receive (interface/twisted_receive.py)."""
        return self.twisted_receiver.receive(channels)

    def received(self, channels):
        """What an interface server does after each read of the layer, also
        one that found nothing. Runs where Daphne's sends run (its reactor)."""
        if not self.interface_server:
            return
        self._after_read()
        now = self.clock()
        self._publish_when_due(now, channels)
        self._collect_when_due(now)

    def flush(self):
        super().flush()
        self.twisted_receiver.clear()
