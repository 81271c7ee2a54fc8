#!/bin/sh
# supervisorctl for the supervisord that deploy/supervisord.sh started: the
# same defaults, so it finds the same socket ($CHAT_RUN_DIR/supervisord.sock).
#
#   deploy/supervisorctl.sh status
#   deploy/supervisorctl.sh restart chat:*          (after every deploy)
#   deploy/supervisorctl.sh tail -f chat:worker_00
#   deploy/supervisorctl.sh shutdown
set -eu
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
. "$DEPLOY_DIR/lib.sh"

exec "${BIN}supervisorctl" -c "$PROJECT_ROOT/supervisord.conf" "$@"
