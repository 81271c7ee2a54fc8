"""
channels' `runworker`, refusing at start what would only fail later, and
outliving a Redis outage.

The chat app lists before `channels` in INSTALLED_APPS, so this command
takes the name; the worker loop itself is channels' own.
"""
import logging
import os
import time

import redis
from channels import DEFAULT_CHANNEL_LAYER, channel_layers
from channels.management.commands.runworker import Command as ChannelsRunworker
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import CommandError

from proj.env import IN_MEMORY_LAYER_REFUSAL

log = logging.getLogger(__name__)

# Redis unreachable, restarting or still loading its data.
LAYER_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RETRY_FIRST, RETRY_MOST = 0.5, 10.0   # seconds between reconnection attempts
STABLE_AFTER = 30.0                   # a worker up this long starts its back-off afresh


class Command(ChannelsRunworker):

    def handle(self, *args, **options):
        if channel_layers[options.get("layer") or DEFAULT_CHANNEL_LAYER].local_only():
            raise CommandError(IN_MEMORY_LAYER_REFUSAL)
        if not settings.DEBUG:
            refuse_uncollected_static_files()
        # Stock runworker dies with the first ConnectionError, and a process
        # manager soon gives up restarting it (supervisord: FATAL). Wait for
        # Redis instead. SIGTERM still ends the worker at once while it
        # waits: channels' handler exits when no message is in hand.
        delay = RETRY_FIRST
        while True:
            started = time.monotonic()
            try:
                return super().handle(*args, **options)
            except LAYER_DOWN as error:
                if time.monotonic() - started > STABLE_AFTER:
                    delay = RETRY_FIRST
                log.warning("Channel layer unreachable (%s); trying again in %.1f s", error, delay)
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MOST)


def refuse_uncollected_static_files():
    """With DEBUG off the workers (WhiteNoise) or nginx serve STATIC_ROOT only:
    a file missing there is a page without its script."""
    missing = [
        path
        for finder in finders.get_finders()
        for path, _storage in finder.list(["CVS", ".*", "*~"])
        if not os.path.isfile(os.path.join(settings.STATIC_ROOT, path))
    ]
    if missing:
        raise CommandError(
            "%d static file(s) are not collected in STATIC_ROOT=%s (for example %s). With "
            "DJANGO_DEBUG off they are served from there (WhiteNoise in the workers, or "
            "nginx): run `python manage.py collectstatic --noinput` (deploy/release.sh does) "
            "with the same DJANGO_STATIC_ROOT, then start the workers." % (
                len(missing), settings.STATIC_ROOT, missing[0])
        )
