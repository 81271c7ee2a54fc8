"""
channels' `runworker`, refusing at start what would only fail later.

The chat app lists before `channels` in INSTALLED_APPS, so this command
takes the name; everything after the checks is channels' own.
"""
import os

from channels import DEFAULT_CHANNEL_LAYER, channel_layers
from channels.management.commands.runworker import Command as ChannelsRunworker
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import CommandError

from proj.env import IN_MEMORY_LAYER_REFUSAL


class Command(ChannelsRunworker):

    def handle(self, *args, **options):
        if channel_layers[options.get("layer") or DEFAULT_CHANNEL_LAYER].local_only():
            raise CommandError(IN_MEMORY_LAYER_REFUSAL)
        if not settings.DEBUG:
            refuse_uncollected_static_files()
        super().handle(*args, **options)


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
