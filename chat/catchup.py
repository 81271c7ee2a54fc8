"""
Catch-up for a reconnecting socket: /chat/<label>/?after=<id>.

The messages go to one reply channel faster than Daphne drains it, so a
full channel is waited out briefly instead of losing the rest.
"""
import json
import logging
import time

from django.conf import settings

from chat.errors import ClientError, send_error

log = logging.getLogger(__name__)

FULL_CHANNEL_PATIENCE = 5.0  # seconds to wait for room in the reply channel
FULL_CHANNEL_POLL = 0.02


def send_catchup(reply_channel, room, after_id):
    """Send every message of `room` with id > after_id, oldest first, as message frames."""
    limit = settings.CHAT_CATCHUP_LIMIT
    messages = list(room.messages_after(after_id, limit + 1))
    for message in messages[:limit]:
        _send_patiently(reply_channel, {"text": json.dumps(message.as_dict())})
    if len(messages) > limit:
        last_sent = messages[limit - 1].pk if limit else after_id
        send_error(reply_channel, ClientError(
            "catchup_truncated",
            "Sent the %d oldest missed messages; fetch the rest from "
            "/api/rooms/%s/messages/?after=%d" % (limit, room.label, last_sent),
        ))


def _send_patiently(reply_channel, content):
    layer = reply_channel.channel_layer
    deadline = time.monotonic() + FULL_CHANNEL_PATIENCE
    while True:
        try:
            # immediately: a held-back send could not report a full channel,
            # and would lose its place among the broadcasts.
            reply_channel.send(content, immediately=True)
            return
        except layer.ChannelFull:
            if time.monotonic() > deadline:
                raise
            time.sleep(FULL_CHANNEL_POLL)
