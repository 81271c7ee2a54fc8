#!/bin/sh
# A worker: runs the Django views and the chat consumers for whatever
# messages Daphne put on the Redis channel layer. Run as many as you need;
# they share the layer and the database.
#
#   deploy/worker.sh [runworker options...]     e.g. --threads 2
#
# Environment: REDIS_URL (required), VENV, CHAT_ENV_FILE and the Django
# settings (deploy/env.example). SIGTERM or SIGINT: the worker finishes the
# message in hand, then exits.
set -eu
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
. "$DEPLOY_DIR/lib.sh"

require_redis

exec "$PYTHON" manage.py runworker "$@"
