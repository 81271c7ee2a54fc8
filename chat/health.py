"""
GET /healthz for load balancers and process managers: a raw channels
`http.request` consumer (routing.py), not a Django view, so it answers
without middleware, sessions or templates, and proves the path a chat
message takes: Daphne -> Redis -> a worker -> the database -> back.

    200 {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}}
    503 {"status": "unavailable", "checks": {"database": "unavailable (OperationalError)", ...}}

With Redis itself down no worker can be reached at all: Daphne answers the
request with a 500 at once (it cannot queue it), which takes that Daphne
out of a load balancer just the same. docs/deployment.md says how to use it.
"""
import json
import logging
import uuid

from channels.handler import AsgiHandler
from django.db import connection
from django.http import HttpResponse

log = logging.getLogger(__name__)


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_channel_layer(channel_layer):
    """A round trip through the layer, on a channel of this request's own."""
    channel = "chat.healthz.%s" % uuid.uuid4().hex
    channel_layer.send(channel, {"ping": True})
    received, content = channel_layer.receive([channel], block=False)
    if received != channel or content != {"ping": True}:
        raise RuntimeError("the message sent did not come back")


def healthz(message):
    if message.content.get("method") not in ("GET", "HEAD"):
        respond(message, _not_allowed())
        return
    checks, healthy = {}, True
    for name, check in (("database", check_database),
                        ("channel_layer", lambda: check_channel_layer(message.channel_layer))):
        try:
            check()
            checks[name] = "ok"
        except Exception as failure:
            log.warning("Health check %s failed: %r", name, failure)
            checks[name] = "unavailable (%s)" % type(failure).__name__
            healthy = False
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    respond(message, HttpResponse(json.dumps(body), status=200 if healthy else 503,
                                  content_type="application/json"))


def _not_allowed():
    response = HttpResponse(status=405)
    response["Allow"] = "GET, HEAD"
    return response


def respond(message, response):
    response["Cache-Control"] = "no-store"
    for chunk in AsgiHandler.encode_response(response):
        message.reply_channel.send(chunk)
