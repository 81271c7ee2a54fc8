"""
The chat's wire protocol (docs/protocol.md) on Channels 4, doing the same
work per frame as the project: check it, save it (with previous_id and the
client_id rule), broadcast it to the room's group through channels_redis.
Not here: sessions, users, access levels, budgets, presence, announcements.
"""
import json
import re

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import IntegrityError, transaction

from peerchat.models import Message, Room

CATCHUP_LIMIT = 100
CLIENT_ID = re.compile(r"[-\w]{1,64}", re.ASCII)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


class ClientError(Exception):
    def __init__(self, code, detail):
        super().__init__(detail)
        self.code, self.detail = code, detail


def parse_frame(text):
    if text is None:
        raise ClientError("binary_not_supported", "Send chat messages as text frames of JSON.")
    if len(text) > 16 * 1024:
        raise ClientError("message_too_long", "A message may have at most 2000 characters.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ClientError("invalid_json", "The frame is not valid JSON.")
    if not isinstance(data, dict) or not {"handle", "message"} <= set(data) \
            or set(data) - {"handle", "message", "client_id"}:
        raise ClientError("invalid_message", "A frame is an object with handle, message and client_id.")
    handle, message, client_id = data["handle"], data["message"], data.get("client_id")
    if not isinstance(handle, str) or not isinstance(message, str):
        raise ClientError("invalid_message", "handle and message are strings.")
    handle, message = handle.strip(), message.strip()
    if not handle or not message or len(handle) > 64 or CONTROL.search(handle) or CONTROL.search(message):
        raise ClientError("invalid_message", "A bad handle or message.")
    if len(message) > 2000:
        raise ClientError("message_too_long", "A message may have at most 2000 characters.")
    if client_id is not None and not (isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id)):
        raise ClientError("invalid_message", "A bad client_id.")
    return handle, message, client_id


def previous_id(room, message_id):
    return room.messages.filter(pk__lt=message_id).order_by("-pk").values_list("pk", flat=True).first()


@database_sync_to_async
def find_room(label):
    return Room.objects.filter(label=label).first()


@database_sync_to_async
def catch_up(room, after):
    messages = list(room.messages.filter(pk__gt=after).order_by("pk")[:CATCHUP_LIMIT])
    frames, before = [], previous_id(room, messages[0].pk) if messages else None
    for message in messages:
        message.room = room
        frames.append(message.as_dict(before))
        before = message.pk
    return frames


@database_sync_to_async
def save(room, handle, text, client_id):
    """Saved one at a time per room (the room row locked), so previous_id holds."""
    with transaction.atomic():
        Room.objects.select_for_update().filter(pk=room.pk).first()
        if client_id:
            earlier = room.messages.filter(handle=handle, client_id=client_id).first()
            if earlier is not None:
                earlier.room = room
                return earlier.as_dict(previous_id(room, earlier.pk))
        before = room.messages.order_by("-pk").values_list("pk", flat=True).first()
        try:
            with transaction.atomic():
                message = Message.objects.create(room=room, handle=handle, message=text, client_id=client_id)
        except IntegrityError:
            earlier = room.messages.get(handle=handle, client_id=client_id)
            earlier.room = room
            return earlier.as_dict(previous_id(room, earlier.pk))
        message.room = room
        return message.as_dict(before)


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room = await find_room(self.scope["url_route"]["kwargs"]["label"])
        if self.room is None:
            await self.close()  # before accept: the handshake is refused with 403
            return
        self.group = "room-%d" % self.room.pk
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        query = dict(part.split("=", 1) for part in self.scope["query_string"].decode().split("&") if "=" in part)
        if "after" in query:
            after = query["after"]
            if not (after.isascii() and after.isdigit() and int(after) < 2 ** 63):
                await self.error("invalid_after", "after must be a whole number.")
                return
            last_id = int(after)
            for message in await catch_up(self.room, int(after)):
                await self.send(text_data=json.dumps(message))
                last_id = message["id"]
            # The project's end frame (docs/protocol.md); the peer's catch-up is never cut.
            await self.send(text_data=json.dumps({"type": "caught_up", "room": self.room.label, "last_id": last_id}))

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        client_id = None
        try:
            handle, text, client_id = parse_frame(text_data)
            saved = await save(self.room, handle, text, client_id)
        except ClientError as error:
            await self.error(error.code, error.detail, client_id)
            return
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "text": json.dumps(saved)})

    async def chat_message(self, event):
        await self.send(text_data=event["text"])

    async def error(self, code, detail, client_id=None):
        frame = {"type": "error", "code": code, "detail": detail}
        if client_id:
            frame["client_id"] = client_id
        await self.send(text_data=json.dumps(frame))
