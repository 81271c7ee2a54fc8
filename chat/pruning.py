"""
Every worker process runs a pruner thread: every PRUNE_EVERY seconds one of
them (a lock in Redis picks it) drops the Group memberships of sockets gone
without a disconnect (redis_layer/socket_registry.py says how those are found),
and deletes those sockets' channel sessions and presence, as their
disconnect would have. The same pass removes public rooms that a visit
made a day ago and nobody wrote in (Room.objects.unused).
"""
import logging
import random
import threading
import time
from datetime import timedelta

import redis
from channels.sessions import session_for_reply_channel
from django.db import close_old_connections, connection
from django.utils import timezone

from chat import presence
from chat.models import Room
from redis_layer import socket_registry

log = logging.getLogger(__name__)

PRUNE_EVERY = 15.0  # seconds between pruning passes, fleet-wide
LOCK_KEY = "chat:pruning"
UNUSED_ROOM_AGE = timedelta(days=1)


def start_pruner(layer):
    """Start the daemon thread for this worker process's channel layer."""
    thread = threading.Thread(target=_prune_forever, args=(layer,), name="group-pruner", daemon=True)
    thread.start()
    return thread


def _prune_forever(layer):
    while True:
        # Spread out, so that workers started together do not race for the lock.
        time.sleep(PRUNE_EVERY * random.uniform(0.5, 1.0))
        try:
            prune_once(layer)
        except redis.exceptions.RedisError as error:
            log.warning("Pruning skipped: %s", error)
        except Exception:
            log.exception("Pruning failed")
        finally:
            connection.close()


def prune_once(layer):
    """One pruning pass, if no other worker ran one in the last PRUNE_EVERY
    seconds. Returns the reply channels whose sockets were found gone."""
    lock = socket_registry.redis_key(layer, LOCK_KEY)
    if not layer.connection(0).set(lock, b"1", nx=True, ex=max(1, int(PRUNE_EVERY) - 1)):
        return set()
    gone = socket_registry.prune(layer)
    close_old_connections()
    for reply_channel in gone:
        session_for_reply_channel(reply_channel).delete()
    presence.left(gone)
    removed, _ = Room.objects.unused(since=timezone.now() - UNUSED_ROOM_AGE).delete()
    if removed:
        log.info("Removed %d unused room(s)", removed)
    return gone
