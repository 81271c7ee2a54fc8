"""
The one lookup of a room with its access check (the get_room_or_error of
channels-examples' multichat app): the socket's connect and receive and the
history API each enforce access through it, the same way.
"""
import logging

from chat.errors import ClientError
from chat.models import Room

log = logging.getLogger(__name__)


def get_room_or_error(user, label=None, room_id=None):
    """The room named `label`, or the one a socket joined (`room_id`), if
    `user` may enter it; else the ClientError that says why not:
    room_not_found or room_gone (deleted since the socket joined), forbidden."""
    if room_id is not None:
        room = Room.objects.find(pk=room_id)
        if room is None:
            raise ClientError("room_gone", "This room no longer exists; nothing was saved.", status=410)
        if not room.may_enter(user):
            # The room's access changed since this socket joined.
            raise ClientError("forbidden", "You may no longer enter this room; nothing was saved.", status=403)
        return room
    room = Room.objects.find(label=label)
    if room is None:
        log.debug("Refused unknown room %r", label)
        raise ClientError("room_not_found", "There is no room %r; visit its page to create it." % label,
                          status=404)
    if not room.may_enter(user):
        log.info("Refused %s room %r: %s may not enter", room.access, label, user)
        raise ClientError("forbidden", "This room is for %s only." % room.get_access_display().split(": ")[1],
                          status=403)
    return room
