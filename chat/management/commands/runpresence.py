"""
    manage.py runpresence

The one long-running process that pushes each room's presence to its
sockets, at most once a second and only when it changed, and each room's
newest message id once it stood still (chat/presence.py).
Run exactly one (supervisord's `presence` program, the Procfile's
`presence` process type). It waits out Redis and database outages, and
exits within a second of SIGTERM or SIGINT.
"""
import logging
import signal
import threading

import redis
from channels import DEFAULT_CHANNEL_LAYER, channel_layers
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from chat.presence import Pusher
from proj.env import IN_MEMORY_LAYER_REFUSAL

log = logging.getLogger(__name__)

EVERY = 1.0  # seconds between looks


class Command(BaseCommand):
    help = "Push each room's presence and newest message id to its sockets when they change (run one)."

    def handle(self, *args, **options):
        if channel_layers[DEFAULT_CHANNEL_LAYER].local_only():
            raise CommandError(IN_MEMORY_LAYER_REFUSAL)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        log.info("Pushing presence every %.0f s", EVERY)
        pusher = Pusher()
        while not stop.is_set():
            try:
                pusher.look()
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
                # Whatever was sent may be lost with Redis: send it all again.
                log.warning("Channel layer unreachable (%s); trying again", error)
                pusher.forget()
            except DatabaseError as error:
                log.warning("Database unreachable (%s); trying again", error)
            finally:
                close_old_connections()
            stop.wait(EVERY)
        log.info("Stopped")
