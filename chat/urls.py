from django.urls import path, re_path

from chat import views
from chat.models import LABEL_PATTERN

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.new_room, name="new"),
    re_path(r"^api/rooms/(?P<label>%s)/messages/$" % LABEL_PATTERN, views.room_messages, name="room_messages"),
    re_path(r"^(?P<label>%s)/$" % LABEL_PATTERN, views.chat_room, name="room"),
]
