"""
channels 1.1.8's test settings (its tests/settings.py, unchanged) for Django
2.2: tests/settings.py lists django.contrib.admin without the TEMPLATES,
messages app and MIDDLEWARE that Django 2.x's admin checks (admin.E403,
E406, E408, E409, E410) require, and RunServerTests run `runserver`, which
runs the system checks and stops on them. Silence exactly those checks; no
test uses the admin.
"""
from tests.settings import *  # noqa: F401,F403

SILENCED_SYSTEM_CHECKS = ["admin.E403", "admin.E406", "admin.E408", "admin.E409", "admin.E410"]
