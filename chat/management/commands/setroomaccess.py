"""
    manage.py setroomaccess <label> public|members|staff

Sets who may enter a room (chat/models.py, Room.access), creating the room
if it does not exist yet. A socket already open keeps hearing the room
until it next sends: each message checks access again (chat/rooms.py),
and a sender who may no longer enter is answered `forbidden` and closed.
"""
import re

from django.core.management.base import BaseCommand, CommandError

from chat.models import LABEL_PATTERN, Room


class Command(BaseCommand):
    help = "Set who may enter a room: public (anyone), members (signed-in users) or staff; creates the room."

    def add_arguments(self, parser):
        parser.add_argument("label")
        parser.add_argument("access", choices=[value for value, _ in Room.ACCESS_CHOICES])

    def handle(self, label, access, **options):
        if not re.fullmatch(LABEL_PATTERN, label):
            raise CommandError("%r is not a room label: 1 to 50 letters, digits, '_' or '-'." % label)
        room, created = Room.objects.update_or_create(label=label, defaults={"access": access})
        self.stdout.write("%s room %s: %s" % ("Created" if created else "Updated", room.label, room.get_access_display()))
