"""
The project's channel routing: which consumer handles which channel message.

Named by CHANNEL_LAYERS["default"]["ROUTING"]. Order matters: the first
route that matches wins, and the final catch-all refuses every WebSocket
path no app claimed (channels 1.x would otherwise accept it silently).
"""
from channels.routing import include, route

from chat.consumers import reject_unrouted_socket

channel_routing = [
    include("chat.routing.websocket_routing", path=r"^/chat"),
    route("websocket.connect", reject_unrouted_socket),
]
