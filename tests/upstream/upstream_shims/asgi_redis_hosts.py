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


def _hosts(json_text):
    return [tuple(host) for host in json.loads(json_text)]


# Required (KeyError without it): with no hosts asgi_redis falls back to localhost:6379.
constants.REDIS_HOSTS = _hosts(os.environ["UPSTREAM_REDIS_HOSTS"])
constants.SENTINEL_HOSTS = _hosts(os.environ.get("UPSTREAM_SENTINEL_HOSTS", "[]"))
constants.SERVICE_NAMES = json.loads(os.environ.get("UPSTREAM_SENTINEL_SERVICES", "[]"))
