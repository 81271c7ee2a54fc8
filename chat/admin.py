from django.contrib import admin

from chat.models import Announcement, Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("label", "access", "created")
    list_filter = ("access",)
    search_fields = ("label",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("room", "handle", "message", "timestamp")
    list_filter = ("room",)
    search_fields = ("handle", "message")
    raw_id_fields = ("room",)


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    # Saving sends it to every open page (chat/announcements.py).
    list_display = ("text", "active", "created")
    list_filter = ("active",)
