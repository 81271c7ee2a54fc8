"""
Each log line is written once. channels' commands (runserver, runworker)
give Daphne's loggers a handler of their own and leave them propagating to
the project's console handler (proj/settings.py LOGGING): under runserver
each Daphne line came out twice, in two formats. Daphne itself
(deploy/daphne.sh) adds none, and its lines go through the console.
Each case runs in a fresh Python, as logging is configured once a process.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICE_PREFIXES = ("DJANGO_", "DATABASE_", "REDIS_", "CHANNEL_LAYER_", "CHAT_", "DAPHNE_", "WORKER_", "NGINX_")
LINE = "Listening on endpoint tcp:port=1"

LOG_ONE_DAPHNE_LINE = """
import logging, sys
import django
django.setup()
if sys.argv[1] == "runserver":
    from channels.log import setup_logger
    setup_logger("django.channels", 1)  # what channels' runserver does first
logging.getLogger("daphne.server").warning(%r)
""" % LINE


def written(mode):
    env = {key: value for key, value in os.environ.items() if not key.startswith(SERVICE_PREFIXES)}
    env.update(DJANGO_SETTINGS_MODULE="proj.settings", DJANGO_DEBUG="1")  # development, as make run
    result = subprocess.run([sys.executable, "-c", LOG_ONE_DAPHNE_LINE, mode], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stderr.splitlines() if LINE in line]


def test_a_daphne_line_is_written_once_under_runserver():
    lines = written("runserver")
    assert len(lines) == 1, lines


def test_daphne_itself_writes_its_lines_once_in_the_projects_format():
    lines = written("daphne")
    assert len(lines) == 1 and ("WARNING daphne.server: " + LINE) in lines[0], lines


def test_control_characters_a_client_sent_are_escaped_and_the_line_is_still_logged():
    env = {key: value for key, value in os.environ.items() if not key.startswith(SERVICE_PREFIXES)}
    env.update(DJANGO_SETTINGS_MODULE="proj.settings", DJANGO_DEBUG="1")
    code = ("import django, logging; django.setup(); "
            "logging.getLogger('django.request').warning('Not Found: %s', '/x\\n2026-01-01 FAKE ERROR \\x1b[2J')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith("Not Found: /x\\x0a2026-01-01 FAKE ERROR \\x1b[2J"), lines
