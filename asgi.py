"""
The channel layer that interface servers serve: `daphne asgi:channel_layer`.

Daphne imports this module, reads Django's settings, and then only moves
messages between sockets and the channel layer; the Django code itself runs
in `manage.py runworker` processes that consume the same layer.
"""
import proj.compat  # noqa: F401  (first: what the stack needs on Python 3.11-3.13)
import os

import channels.asgi
from channels.asgi import channel_layers
from django.core.exceptions import ImproperlyConfigured

from proj.env import IN_MEMORY_LAYER_REFUSAL

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
channel_layer = channels.asgi.get_channel_layer()

# Stock Daphne accepts the in-memory layer and then connections that no
# worker ever answers. Refuse here, by name, as runworker does.
if channel_layers["default"].local_only():
    raise ImproperlyConfigured(IN_MEMORY_LAYER_REFUSAL)

# This process is the interface server: the layer's Daphne-only jobs
# (budgets, busy answers, disconnects, restart detection, the socket
# registry, garbage collection) run here and nowhere else (interface/).
channel_layer.act_as_interface_server()
