"""
The channel layer that interface servers serve: `daphne asgi:channel_layer`.

Daphne imports this module, reads Django's settings, and then only moves
messages between sockets and the channel layer; the Django code itself runs
in `manage.py runworker` processes that consume the same layer.
"""
import os

import channels.asgi

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
channel_layer = channels.asgi.get_channel_layer()
