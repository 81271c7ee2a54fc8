import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerchat.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from peerchat.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_application,
    "websocket": URLRouter([re_path(r"^chat/(?P<label>[-\w]{1,50})/$", ChatConsumer.as_asgi())]),
})
