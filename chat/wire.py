"""
What goes to a socket: channels 1.x's reply-channel message for one
WebSocket text frame, holding a JSON document (docs/protocol.md), and how
a message the client waits for is sent when Daphne's reply list is full.
"""
import json
import logging
import time

log = logging.getLogger(__name__)

PATIENCE = 1.0  # seconds a worker waits for room in a full reply list


def text_frame(data):
    """The message that sends `data`, as JSON, to a socket (reply channel or Group)."""
    return {"text": json.dumps(data)}


def send_patiently(reply_channel, content, what):
    """Send a message the client waits for (a handshake's accept, a
    catch-up's end frame), waiting up to PATIENCE for Daphne to make room
    in a full reply list; False when there was none. Every socket of one
    Daphne shares that list, so it fills only in overload (a reconnect
    storm); then the socket cannot be told anything, and its client
    notices the missing answer and reconnects (docs/protocol.md)."""
    give_up_at = time.monotonic() + PATIENCE
    while True:
        try:
            reply_channel.send(content, immediately=True)
            return True
        except reply_channel.channel_layer.ChannelFull:
            if time.monotonic() >= give_up_at:
                log.warning("Reply list of %s stayed full for %.1f s: %s not sent; the client reconnects",
                            reply_channel, PATIENCE, what)
                return False
            time.sleep(0.05)
