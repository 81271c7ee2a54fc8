"""
The project's channel routing: which consumer handles which channel message.

Named by CHANNEL_LAYERS["default"]["ROUTING"]. Order matters: the first
route that matches wins, and the final catch-all refuses every WebSocket
path no app claimed (channels 1.x would otherwise accept it silently).
"""
from channels.routing import include, route, route_class

from chat.consumers import reject_unrouted_socket
from chat.health import healthz
from chat.notifications import NotificationsConsumer

channel_routing = [
    # A raw http.request consumer ahead of Django's views (chat/health.py).
    route("http.request", healthz, path=r"^/healthz\Z"),
    include("chat.routing.websocket_routing", path=r"^/chat"),
    include("chat.routing.background_routing"),
    route_class(NotificationsConsumer, path=r"^/notifications/\Z"),
    route("websocket.connect", reject_unrouted_socket),
]
