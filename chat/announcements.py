"""
Site-wide announcements: saving an Announcement, from any process (the
admin in a worker, `manage.py shell`, a script), sends it to every room
someone is in, as a background job once the save is committed; a socket
that connects later gets the latest active one right after its handshake.
Saved with active=False, the same frame with "active": false tells pages
to drop the banner.

Sent room by room (the rooms with Presence rows), not through a Group of
every socket: such a Group would cost every handshake and every
disconnect a Redis write, for a message sent a few times a year.
"""
import logging

from django.db import transaction

from chat.background import queue
from chat.wire import text_frame

log = logging.getLogger(__name__)


def announce_saved(sender, instance, **kwargs):
    """post_save of Announcement: queue sending it once the save is
    committed (a rolled-back save announces nothing)."""
    transaction.on_commit(lambda: _queue(instance.pk))


def _queue(pk):
    try:
        queue("announcement", announcement=pk)
    except Exception:
        # The announcement is saved; sockets that connect later still get it.
        log.exception("Could not queue sending announcement %s to open sockets", pk)


def send_announcement(message):
    """The background job: send an announcement, as it is now, to every room someone is in."""
    from chat.models import Announcement, Presence, Room
    announcement = Announcement.objects.filter(pk=message.content["announcement"]).first()
    if announcement is None:
        return  # deleted meanwhile
    frame = text_frame(announcement.as_dict())
    for room_id in Presence.objects.values_list("room_id", flat=True).distinct().order_by():
        Room.websocket_group_for(room_id).send(frame, immediately=True)


def send_latest(reply_channel):
    """The latest active announcement, if any, to a socket that just connected."""
    from chat.models import Announcement
    latest = Announcement.objects.latest_active()
    if latest is not None:
        reply_channel.send(text_frame(latest.as_dict()), immediately=True)
