"""
The channel layer that interface servers serve: `daphne asgi:channel_layer`.

Daphne imports this module, reads Django's settings, and then only moves
messages between sockets and the channel layer; the Django code itself runs
in `manage.py runworker` processes that consume the same layer.
"""
import os

import channels.asgi
from channels.asgi import channel_layers
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
channel_layer = channels.asgi.get_channel_layer()

# runworker refuses the in-memory layer; Daphne does not, and would accept
# connections that no worker ever answers. Refuse here, by name.
if channel_layers["default"].local_only():
    raise ImproperlyConfigured(
        "REDIS_URL is not set, so the channel layer is the in-memory one, which lives "
        "inside a single process. Daphne and runworker are separate processes: set "
        "REDIS_URL (e.g. redis://127.0.0.1:6379/0) for both, or use `manage.py runserver`."
    )
