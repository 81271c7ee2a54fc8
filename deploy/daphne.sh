#!/bin/sh
# Daphne, the interface server: holds the HTTP and WebSocket connections and
# moves them to and from the Redis channel layer. It runs no Django code;
# without `runworker` processes nothing answers.
#
#   deploy/daphne.sh [N] [daphne options...]
#
# Listens on DAPHNE_BIND:(DAPHNE_PORT + N), defaults 127.0.0.1 and 8001, so
# supervisord's daphne_00, daphne_01, ... get 8001, 8002, ... and nginx's
# upstream (deploy/render-nginx.sh) lists the same ports.
#
# Environment: REDIS_URL (required), DAPHNE_BIND, DAPHNE_PORT,
# DAPHNE_PROXY_HEADERS (1 = trust X-Forwarded-For/-Proto, the default: only
# right while Daphne is reachable through the proxy alone), VENV, CHAT_ENV_FILE
# and the Django settings (deploy/env.example).
set -eu
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
. "$DEPLOY_DIR/lib.sh"

require_redis

instance=0
if [ $# -gt 0 ] && is_count "$1"; then
    instance=$1
    shift
fi
is_count "$DAPHNE_PORT" || die "DAPHNE_PORT=$DAPHNE_PORT is not a port number."
port=$((DAPHNE_PORT + instance))
[ "$port" -le 65535 ] || die "DAPHNE_PORT + $instance = $port is not a port number."

case "${DAPHNE_PROXY_HEADERS:-1}" in
    1 | true | yes | on) set -- --proxy-headers "$@" ;;
    0 | false | no | off) ;;
    *) die "DAPHNE_PROXY_HEADERS=$DAPHNE_PROXY_HEADERS is not a boolean; use 1 or 0." ;;
esac

exec "${BIN}daphne" asgi:channel_layer --bind "$DAPHNE_BIND" --port "$port" "$@"
