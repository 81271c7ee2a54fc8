"""
HTTP views. In worker mode they run in `runworker`, fed by Daphne through
the channel layer's http.request channel, exactly as in `runserver`.
"""
import logging
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_safe

from chat.errors import ClientError, json_errors
from chat.frames import LARGEST_NUMBER, parse_count
from chat.models import LABEL_PATTERN, Room, random_label
from chat.rooms import get_room_or_error

log = logging.getLogger(__name__)

ROOMS_ON_INDEX = 100
API_DEFAULT_LIMIT = 100
API_MAX_LIMIT = 500
NEW_ROOM_ATTEMPTS = 3


# Pages and the API take GET and HEAD (require_safe): load balancers,
# monitors and `curl -I` check with HEAD. /new/ stays GET only: each
# request makes a new room, which a check must not.
@require_safe
def index(request):
    """The room list; ?room=<label> (the "join a room" form) goes to that room."""
    wanted = request.GET.get("room", "").strip()
    if wanted and re.fullmatch(LABEL_PATTERN, wanted):
        return redirect("chat:room", label=wanted)
    rooms = Room.objects.visible_to(request.user).by_latest_activity()[:ROOMS_ON_INDEX]
    return render(request, "chat/index.html", {"rooms": rooms, "unjoinable": wanted})


@require_GET
def new_room(request):
    """Create a room with a fresh random label and send the browser to it;
    ?access=members (signed-in users) or staff (staff users) restricts it."""
    access = request.GET.get("access") or Room.PUBLIC
    if access not in dict(Room.ACCESS_CHOICES):
        return HttpResponseBadRequest("access must be one of %s." % ", ".join(dict(Room.ACCESS_CHOICES)))
    if access != Room.PUBLIC and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if access == Room.STAFF and not request.user.is_staff:
        return HttpResponseForbidden("Only staff users may create staff rooms.")
    for attempt in range(NEW_ROOM_ATTEMPTS):
        try:
            with transaction.atomic():
                room = Room.objects.create(label=random_label(), access=access)
            return redirect("chat:room", label=room.label)
        except IntegrityError:
            # A label collision is astronomically rare: draw again. Anything
            # that keeps failing is another problem, so give up and raise it.
            if attempt == NEW_ROOM_ATTEMPTS - 1:
                raise
            log.warning("Random room label collided; drawing another")


@require_safe
def chat_room(request, label):
    # Rooms are created on first visit, etherpad style.
    room, created = Room.objects.get_or_create(label=label)
    if created:
        log.info("Created room %r on first visit", label)
    if not room.may_enter(request.user):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return HttpResponseForbidden("This room is for staff users only.")
    messages = room.latest_messages(settings.CHAT_HISTORY_ON_PAGE)
    return render(request, "chat/room.html", {
        "room": room,
        "messages": messages,
        # The wire shape (as_dict): chat.js reads it back from the markup and
        # renders history with the same code as live messages.
        "history": [message.as_dict() for message in messages],
        "last_id": messages[-1].pk if messages else 0,
    })


@require_safe
@json_errors
def room_messages(request, label):
    """GET /api/rooms/<label>/messages/: a page of the room's messages, oldest
    first. ?after=<id>&limit=<n>: the first `limit` after `after` (catching
    up); &before=<id>: the last `limit` before it (scrolling back);
    ?latest=<n>: the newest n (the room as it is now), above `after` if given."""
    room = get_room_or_error(request.user, label=label)
    after = parse_count("after", request.GET.get("after"), default=0)
    before = parse_count("before", request.GET.get("before"), default=None)
    latest = parse_count("latest", request.GET.get("latest"), default=None, minimum=1, maximum=API_MAX_LIMIT)
    limit = parse_count("limit", request.GET.get("limit"), default=API_DEFAULT_LIMIT,
                        minimum=1, maximum=API_MAX_LIMIT)
    if latest is not None:
        if before is not None or request.GET.get("limit"):
            # latest is a page's size and its end at once: no room for either.
            raise ClientError("invalid_parameter", "latest cannot be combined with before or limit.")
        messages = room.messages_before(LARGEST_NUMBER, after, latest)
    elif before is None:
        messages = room.messages_after(after, limit)
    else:
        messages = room.messages_before(before, after, limit)
    return JsonResponse({"room": room.label, "messages": [m.as_dict() for m in messages]})
