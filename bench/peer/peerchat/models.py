from django.db import models


class Room(models.Model):
    label = models.SlugField(max_length=50, unique=True, allow_unicode=True)
    created = models.DateTimeField(auto_now_add=True)


class Message(models.Model):
    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    handle = models.CharField(max_length=64)
    message = models.TextField(max_length=2000)
    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    client_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "handle", "client_id"],
                                               name="peer_message_unique_client_id")]

    def as_dict(self, previous_id):
        data = {"type": "message", "id": self.pk, "previous_id": previous_id, "room": self.room.label,
                "handle": self.handle, "user": False, "message": self.message,
                "timestamp": self.timestamp.isoformat()}
        if self.client_id:
            data["client_id"] = self.client_id
        return data
