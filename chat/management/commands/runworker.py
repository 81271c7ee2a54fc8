"""
channels' `runworker`, refusing at start what would only fail later,
outliving a Redis outage, stopping between messages on SIGTERM
(chat/worker.py), and pruning Groups of sockets gone (chat/pruning.py).

The chat app lists before `channels` in INSTALLED_APPS, so this command
takes the name; the worker loops are channels' own, with a gentler stop.
"""
import logging
import os
import time

import redis
from channels import DEFAULT_CHANNEL_LAYER, channel_layers
from channels.log import setup_logger
from channels.management.commands.runworker import Command as ChannelsRunworker
from channels.signals import worker_process_ready
from channels.staticfiles import StaticFilesConsumer
from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import CommandError

from chat.pruning import start_pruner
from chat.worker import Worker, WorkerGroup
from proj.env import IN_MEMORY_LAYER_REFUSAL

log = logging.getLogger(__name__)

# Redis unreachable, restarting or still loading its data.
LAYER_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RETRY_FIRST, RETRY_MOST = 0.5, 10.0   # seconds between reconnection attempts
STABLE_AFTER = 30.0                   # a worker up this long starts its back-off afresh


class Command(ChannelsRunworker):

    def handle(self, *args, **options):
        self.channel_layer = channel_layers[options.get("layer") or DEFAULT_CHANNEL_LAYER]
        if self.channel_layer.local_only():
            raise CommandError(IN_MEMORY_LAYER_REFUSAL)
        if not settings.DEBUG:
            refuse_uncollected_static_files()
        # The rest is channels' own set-up, which names its worker classes
        # inline: ours stop between messages (chat/worker.py).
        self.verbosity = options.get("verbosity", 1)
        self.logger = setup_logger("django.channels", self.verbosity)
        if settings.DEBUG and apps.is_installed("django.contrib.staticfiles"):
            self.channel_layer.router.check_default(http_consumer=StaticFilesConsumer())
        else:
            self.channel_layer.router.check_default()
        threads = options.get("threads", 1)
        shared = dict(
            channel_layer=self.channel_layer,
            callback=self.consumer_called if self.verbosity > 1 else None,
            only_channels=options.get("only_channels"),
            exclude_channels=options.get("exclude_channels"),
        )
        if threads == 1:
            self.logger.info("Using single-threaded worker.")
            worker = Worker(**shared)
        else:
            self.logger.info("Using multi-threaded worker, %d thread(s).", threads)
            worker = WorkerGroup(n_threads=threads, **shared)
        self.logger.info("Running worker against channel layer %s", self.channel_layer)
        worker_process_ready.send(sender=worker)
        worker.ready()
        # Group memberships of sockets gone without a disconnect (chat/pruning.py).
        start_pruner(self.channel_layer.channel_layer)
        run_through_outages(worker)


def run_through_outages(worker):
    """Run the worker until a signal stops it. Stock runworker dies with the
    first ConnectionError, and a process manager soon gives up restarting it
    (supervisord: FATAL); this waits for Redis instead, with back-off."""
    delay = RETRY_FIRST
    while not worker.termed:
        started = time.monotonic()
        try:
            worker.run()
        except LAYER_DOWN as error:
            if time.monotonic() - started > STABLE_AFTER:
                delay = RETRY_FIRST
            log.warning("Channel layer unreachable (%s); trying again in %.1f s", error, delay)
            resume_at = time.monotonic() + delay
            while not worker.termed and time.monotonic() < resume_at:
                time.sleep(0.1)
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
