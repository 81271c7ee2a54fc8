"""
A pytest plugin (pytest.ini: -p tests.development): the unit tests run the
service in development mode, DJANGO_DEBUG=1, as `make run` does. The
service defaults to production (DEBUG off); tests/test_settings.py checks
that, and the production refusals, each in a fresh process.
"""
import os

os.environ["DJANGO_DEBUG"] = "1"
