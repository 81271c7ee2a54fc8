"""
Overload costs resends, never a socket.

When the workers fall behind and `websocket.receive` is full, a frame
within its budgets is not the sender's fault: instead of the close Daphne
would make (1013), the sender is answered `rate_limited` (try again in a
second) from here, the frame goes nowhere, and the socket's later events
are numbered as if it had never been sent, so that enforce_ordering does
not wait for it.
"""
import json
import logging

import redis

log = logging.getLogger(__name__)


class BusyAnswers:
    """The layer's part that answers "busy" (a mixin of interface.layer.ChatChannelLayer)."""

    BUSY_RETRY_AFTER = 1  # seconds a frame refused for a full websocket.receive is told to wait

    def __init__(self, **config):
        super().__init__(**config)
        self._skipped = {}          # reply channel -> its frames answered "busy", never sent on
        self._busy_answers = 0      # frames answered "busy" since the last log line about them
        self._busy_logged = float("-inf")

    def _answer_busy(self, message):
        """The workers are behind: tell the sender to resend (rate_limited),
        and number its later events as if this frame had never come. False
        if even the answer does not fit (then Daphne closes the socket)."""
        reply_channel = message.get("reply_channel")
        error = {"type": "error", "code": "rate_limited", "retry_after": self.BUSY_RETRY_AFTER,
                 "detail": "The server is busy; this message was not saved. Try again in %d s."
                           % self.BUSY_RETRY_AFTER}
        client_id = _client_id_of(message.get("text"))
        if client_id is not None:
            error["client_id"] = client_id
        try:
            self._send(reply_channel, {"text": json.dumps(error)})
        except (self.ChannelFull, redis.exceptions.RedisError):
            return False
        self._skipped[reply_channel] = self._skipped.get(reply_channel, 0) + 1
        self._busy_answers += 1
        now = self.clock()
        if now - self._busy_logged >= 1.0:  # a line a second, not one a frame
            log.warning("websocket.receive is full (the workers are behind): %d frame(s) answered "
                        "rate_limited since the last line, their sockets kept", self._busy_answers)
            self._busy_logged, self._busy_answers = now, 0
        return True

    def _renumbered(self, message):
        """`message` with its order less the frames of its socket never sent on."""
        skipped = self._skipped.get(message.get("reply_channel"))
        if not skipped or "order" not in message:
            return message
        return dict(message, order=message["order"] - skipped)


def _client_id_of(text):
    """The client_id of a chat frame's JSON text, when it has a plain one."""
    try:
        client_id = json.loads(text).get("client_id")
    except (TypeError, ValueError, AttributeError, RecursionError):
        return None
    return client_id if isinstance(client_id, str) and len(client_id) <= 64 else None
