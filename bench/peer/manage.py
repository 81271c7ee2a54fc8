#!/usr/bin/env python
"""manage.py of the Channels 4 benchmark peer (run from bench/.peer-venv)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerchat.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
