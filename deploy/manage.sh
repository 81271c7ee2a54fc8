#!/bin/sh
# manage.py with the deployment's environment and Python: for one-off
# commands and cron, e.g.
#
#   deploy/manage.sh clearsessions        (daily: expired HTTP sessions pile up in the database)
#   deploy/manage.sh check --deploy
#
# Environment: VENV, CHAT_ENV_FILE and the Django settings (deploy/env.example).
set -eu
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
. "$DEPLOY_DIR/lib.sh"

exec "$PYTHON" manage.py "$@"
