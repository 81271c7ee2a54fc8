#!/usr/bin/env python
import proj.compat  # noqa: F401  (first: what the stack needs on Python 3.11-3.13)
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
