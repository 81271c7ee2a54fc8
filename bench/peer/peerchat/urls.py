from django.http import HttpResponse
from django.urls import re_path

from peerchat.models import Room


def room_page(request, label):
    """GET /<label>/ creates the room, as the project's page does."""
    Room.objects.get_or_create(label=label)
    return HttpResponse("room %s\n" % label, content_type="text/plain")


urlpatterns = [re_path(r"^(?P<label>[-\w]{1,50})/$", room_page)]
