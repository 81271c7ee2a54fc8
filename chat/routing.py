"""
The chat app's channel routes: its WebSockets, included under /chat by the
project routing, and its background channel.

The label pattern is the one the HTTP URLs use, so a socket can only reach
a room whose page could exist; anything else falls through to the
project's catch-all, which refuses it.
"""
from channels.routing import route

from chat import consumers
from chat.models import LABEL_PATTERN
from chat.announcements import send_announcement
from chat.background import BACKGROUND_CHANNEL
from chat.notifications import send_mentions

# \Z, not $: "$" also matches before a final newline, so "/chat/<label>/%0A"
# would enter the room.
ROOM_PATH = r"^/(?P<label>%s)/\Z" % LABEL_PATTERN

websocket_routing = [
    route("websocket.connect", consumers.ws_connect, path=ROOM_PATH),
    route("websocket.receive", consumers.ws_receive, path=ROOM_PATH),
    route("websocket.disconnect", consumers.ws_disconnect, path=ROOM_PATH),
]

# Work no socket waits for, by its kind (chat/background.py).
background_routing = [
    route(BACKGROUND_CHANNEL, send_mentions, job=r"^mentions\Z"),
    route(BACKGROUND_CHANNEL, send_announcement, job=r"^announcement\Z"),
]
