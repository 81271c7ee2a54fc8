"""
Announcements saved from `manage.py shell` (any process with the settings)
reach every open chat socket, in every room (a background job); a socket
that connects later gets the latest active one; saved inactive, pages are
told to drop it.
"""

import pytest

from .actors import shell
from .conftest import assert_message_frame

# What this module tests does not depend on the database (conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.one_database]


@pytest.fixture
def announcements(stack):
    yield
    # update() sends nothing: later tests' sockets must not get a banner.
    shell(stack, "from chat.models import Announcement; Announcement.objects.update(active=False)")


def assert_announcement(frame, pk, text, active):
    assert set(frame) == {"type", "id", "text", "timestamp", "active"}, frame
    assert (frame["type"], frame["id"], frame["text"], frame["active"]) == ("announcement", pk, text, active)


def test_an_announcement_reaches_every_room_and_later_sockets(stack, new_room, join, announcements):
    first, second = join(new_room("announce-a")), join(new_room("announce-b"))
    pk = int(shell(stack, "from chat.models import Announcement; "
                          "print(Announcement.objects.create(text='Maintenance at <b>10:00</b>').pk)"))
    for sock in (first, second):
        assert_announcement(sock.recv_json(), pk, "Maintenance at <b>10:00</b>", True)

    later_room = new_room("announce-c")
    later = join(later_room, after=0)
    assert_announcement(later.recv_json(), pk, "Maintenance at <b>10:00</b>", True)
    assert later.recv_json() == {"type": "caught_up", "room": later_room, "last_id": 0}  # after it, always

    shell(stack, "from chat.models import Announcement; a = Announcement.objects.get(pk=%d); "
                 "a.active = False; a.save()" % pk)
    for sock in (first, second, later):
        assert_announcement(sock.recv_json(), pk, "Maintenance at <b>10:00</b>", False)
    quiet_room = new_room("announce-d")
    quiet = join(quiet_room)
    quiet.assert_silent()
    # No banner on a socket that is served: its next frame is its own message.
    quiet.say("dora", "no banner")
    assert_message_frame(quiet.recv_json(), quiet_room, "dora", "no banner")
