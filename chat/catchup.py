"""
Catch-up for a reconnecting socket: /chat/<label>/?after=<id>.

Bounded on purpose: at most CHAT_CATCHUP_LIMIT messages go over the
socket, into the reply list that every socket of that Daphne shares; the
rest is one HTTP request away. A full reply list ends the catch-up at
once instead of holding a worker, and live broadcasts keep their room.
"""
import logging

from django.conf import settings

from chat.errors import ClientError, send_error
from chat.wire import text_frame

log = logging.getLogger(__name__)


def send_catchup(reply_channel, room, after_id):
    """Send the messages of `room` with id > after_id, oldest first, as
    message frames; when there are more than the limit, or the reply list
    fills up, end with catchup_truncated saying where to continue."""
    limit = settings.CHAT_CATCHUP_LIMIT
    messages = list(room.messages_after(after_id, limit + 1))
    last_sent = after_id
    for message in messages[:limit]:
        try:
            # immediately: a held-back send could not report a full channel,
            # and would lose its place among the broadcasts.
            reply_channel.send(text_frame(message.as_dict()), immediately=True)
        except reply_channel.channel_layer.ChannelFull:
            log.warning("Reply list of %s is full: catch-up cut after id %d", reply_channel, last_sent)
            break
        last_sent = message.pk
    else:
        if len(messages) <= limit:
            return
    send_error(reply_channel, ClientError(
        "catchup_truncated",
        "Sent the missed messages up to id %d; fetch the rest from "
        "/api/rooms/%s/messages/?after=%d" % (last_sent, room.label, last_sent),
        after=last_sent,
    ))
