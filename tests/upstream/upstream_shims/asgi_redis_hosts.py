"""
asgi_redis 1.4.3 tests/constants.py hard-codes localhost:6379 (or, with
DOCKER_TEST_ENV, the hosts of its docker-compose file). Point the tests at
the private redis-servers and redis-sentinel that tests/upstream/run.py
started instead (never the machine's 6379): UPSTREAM_REDIS_HOSTS,
UPSTREAM_SENTINEL_HOSTS and UPSTREAM_SENTINEL_SERVICES, as JSON. The test
modules read the constants at import, after this plugin has run.
"""
import json
import os

import tests.constants as constants

constants.REDIS_HOSTS = [tuple(host) for host in json.loads(os.environ["UPSTREAM_REDIS_HOSTS"])]
constants.SENTINEL_HOSTS = [tuple(host) for host in json.loads(os.environ.get("UPSTREAM_SENTINEL_HOSTS", "[]"))]
constants.SERVICE_NAMES = json.loads(os.environ.get("UPSTREAM_SENTINEL_SERVICES", "[]"))
