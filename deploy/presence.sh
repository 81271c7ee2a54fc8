#!/bin/sh
# The presence pusher: tells each room who is connected, at most once a
# second, when it changes (chat/presence.py). Run exactly one per
# deployment; it waits out Redis and database outages.
#
#   deploy/presence.sh
#
# Environment: REDIS_URL (required), VENV, CHAT_ENV_FILE and the Django
# settings (README.md, "Environment"). The Procfile's presence process and
# supervisord's presence program run this.
set -eu
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
. "$DEPLOY_DIR/lib.sh"

require_redis

exec "$PYTHON" manage.py runpresence "$@"
