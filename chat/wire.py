"""
What goes to a socket: channels 1.x's reply-channel message for one
WebSocket text frame, holding a JSON document (docs/protocol.md).
"""
import json


def text_frame(data):
    """The message that sends `data`, as JSON, to a socket (reply channel or Group)."""
    return {"text": json.dumps(data)}
