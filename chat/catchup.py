"""
Catch-up for a reconnecting socket: /chat/<label>/?after=<id>.

Bounded on purpose: at most CHAT_CATCHUP_LIMIT messages go over the
socket, and only while the reply list that every socket of that Daphne
shares is less than CATCHUP_SHARE full; the rest is one HTTP request away.
What is left of the list is kept for what only the socket can carry: the
accepts of sockets opening meanwhile, this catch-up's end frame and the
rooms' live broadcasts. In a reconnect storm every socket of a Daphne asks
for its catch-up at once, and a catch-up allowed to fill the list would
leave the accepts no room. An accept or an end frame that finds the list
full waits up to a second for room (chat/wire.py).

Why 0.8: with 2,000 sockets reconnecting at once (docs/performance.md, W5)
the storm ended in 3.8 to 4.3 s, against 4.7 to 5.3 s with half the list,
where three in four catch-ups were cut and fetched over HTTP, which costs
more than the frames would have. Why not a larger reply list instead: the
list is first in, first out, so an accept queued behind a long catch-up
waits for all of it; past Daphne's connect timeout the handshake fails,
is retried, and asks for another catch-up.

The catch-up ends with exactly one frame (docs/protocol.md): `caught_up`,
or the error `catchup_truncated` saying where the HTTP API continues. A
client resends its unanswered frames after it.
"""
import logging

from django.conf import settings

from chat.errors import ClientError, error_frame
from chat.wire import send_patiently, text_frame

log = logging.getLogger(__name__)

CATCHUP_SHARE = 0.8


def send_catchup(reply_channel, room, after_id):
    """Send the messages of `room` with id > after_id, oldest first, as
    message frames, then the end frame."""
    limit = settings.CHAT_CATCHUP_LIMIT
    messages = list(room.messages_after(after_id, limit + 1))
    frames = [text_frame(message.as_dict()) for message in messages[:limit]]
    sent = send_while_room(reply_channel, frames)
    last_sent = messages[sent - 1].pk if sent else after_id
    if sent < len(frames):
        log.warning("Reply list of %s is %d%% full: catch-up cut after id %d",
                    reply_channel, 100 * CATCHUP_SHARE, last_sent)
    if sent < len(frames) or len(messages) > limit:
        end = error_frame(ClientError(
            "catchup_truncated",
            "Sent the missed messages up to id %d; fetch the rest from "
            "/api/rooms/%s/messages/?after=%d" % (last_sent, room.label, last_sent),
            after=last_sent,
        ))
    else:
        end = text_frame({"type": "caught_up", "room": room.label, "last_id": last_sent})
    send_patiently(reply_channel, end, "the catch-up's end frame")


def send_while_room(reply_channel, frames):
    """Send the frames in order while the reply list is under CATCHUP_SHARE
    of its capacity; returns how many went. Redis (redis_layer/layer.py) checks
    in one call; another layer (runserver's in-memory one) up to its
    capacity."""
    layer = reply_channel.channel_layer
    if hasattr(layer, "send_while_below"):
        ceiling = max(1, int(layer.get_capacity(reply_channel.name) * CATCHUP_SHARE))
        return layer.send_while_below(reply_channel.name, frames, ceiling)
    for count, frame in enumerate(frames):
        try:
            reply_channel.send(frame, immediately=True)
        except layer.ChannelFull:
            return count
    return len(frames)
