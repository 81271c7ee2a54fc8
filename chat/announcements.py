"""
Site-wide announcements: saving an Announcement, from any process (the
admin in a worker, `manage.py shell`, a script), sends it to every open
chat socket through one Group; a socket that connects later gets the
latest active one right after its handshake. Saved with active=False, the
same frame with "active": false tells pages to drop the banner.
"""
import logging

from channels import Group
from django.db import transaction

from chat.wire import text_frame

log = logging.getLogger(__name__)

def announcements_group():
    """Every chat socket is in it, whatever its room (chat/consumers.py)."""
    # Made on use: a Group reads the channel layer, whose routing imports
    # the consumers, which import this module.
    return Group("chat.announcements")


def announce_saved(sender, instance, **kwargs):
    """post_save of Announcement: send it once the save is committed (a
    rolled-back save announces nothing)."""
    frame = text_frame(instance.as_dict())
    transaction.on_commit(lambda: _send(frame, instance.pk))


def _send(frame, pk):
    try:
        announcements_group().send(frame, immediately=True)
    except Exception:
        # The announcement is saved; sockets that connect later still get it.
        log.exception("Could not send announcement %s to open sockets", pk)


def send_latest(reply_channel):
    """The latest active announcement, if any, to a socket that just connected."""
    from chat.models import Announcement
    latest = Announcement.objects.filter(active=True).order_by("-created", "-pk").first()
    if latest is not None:
        reply_channel.send(text_frame(latest.as_dict()), immediately=True)
