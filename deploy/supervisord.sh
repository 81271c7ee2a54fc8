#!/bin/sh
# supervisord with the project's supervisord.conf and its defaults filled in:
# supervisord.conf reads CHAT_RUN_DIR and the process counts from the
# environment and refuses to start when one is unset; this sets them
# (deploy/lib.sh: <project>/run; 2 Daphnes; 4 workers for every channel, no
# split pools), checks that every channel has a worker, and creates the run
# directory.
#
#   deploy/supervisord.sh          start in the background (daemon)
#   deploy/supervisord.sh -n       stay in the foreground (systemd, containers, tests)
#
# Any other supervisord option passes through. Environment: REDIS_URL
# (required), CHAT_RUN_DIR, DAPHNE_PROCESSES, WORKER_PROCESSES,
# SOCKET_WORKER_PROCESSES, BACKGROUND_WORKER_PROCESSES, DAPHNE_BIND, DAPHNE_PORT,
# VENV, CHAT_ENV_FILE and the Django settings (deploy/env.example).
# Every program inherits this environment.
set -eu
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
. "$DEPLOY_DIR/lib.sh"

require_redis
is_count "$DAPHNE_PROCESSES" && [ "$DAPHNE_PROCESSES" -ge 1 ] ||
    die "DAPHNE_PROCESSES=$DAPHNE_PROCESSES must be a whole number of at least 1."
for name in WORKER_PROCESSES SOCKET_WORKER_PROCESSES BACKGROUND_WORKER_PROCESSES; do
    eval "value=\$$name"
    is_count "$value" || die "$name=$value must be a whole number."
done
# Workers for every channel, or both split pools (README, "Worker pools").
[ "$WORKER_PROCESSES" -ge 1 ] || { [ "$SOCKET_WORKER_PROCESSES" -ge 1 ] && [ "$BACKGROUND_WORKER_PROCESSES" -ge 1 ]; } ||
    die "WORKER_PROCESSES=0 needs both split pools, SOCKET_WORKER_PROCESSES and BACKGROUND_WORKER_PROCESSES, at least 1: otherwise sockets or mention notifications would wait for a worker that never comes."
mkdir -p "$CHAT_RUN_DIR"

exec "${BIN}supervisord" -c "$PROJECT_ROOT/supervisord.conf" "$@"
