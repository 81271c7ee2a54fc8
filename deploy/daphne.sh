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
# right while Daphne is reachable through the proxy alone),
# DAPHNE_WEBSOCKET_TIMEOUT, VENV, CHAT_ENV_FILE and the Django settings
# (README.md, "Environment"). The Procfile's web process runs this too.
#
# Flags, chosen on purpose:
#   --ping-interval 20 --ping-timeout 30  an idle socket is pinged every 20 s
#       and closed when its client stays silent 30 s more: dead clients and
#       half-open connections go within a minute; nginx (300 s) and Heroku's
#       router (55 s idle) never cut a live one.
#   --websocket_timeout (DAPHNE_WEBSOCKET_TIMEOUT, 43200 s = 12 h)  closes a
#       socket for good after that long. Kept below the layer's group_expiry
#       (CHANNEL_LAYER_GROUP_EXPIRY, 86400 s): a socket that outlived its Group
#       membership would stay open and hear nothing. The page reconnects and
#       catches up.
#   --websocket_connect_timeout 10  a handshake waits for a worker to run the
#       connect consumer; Daphne's 5 s drops handshakes whenever workers are
#       briefly busy.
#   --access-log -  to standard output, which supervisord and Heroku collect.
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

timeout=${DAPHNE_WEBSOCKET_TIMEOUT:-43200}
is_count "$timeout" || die "DAPHNE_WEBSOCKET_TIMEOUT=$timeout is not a number of seconds."
expiry=${CHANNEL_LAYER_GROUP_EXPIRY:-86400}
is_count "$expiry" || die "CHANNEL_LAYER_GROUP_EXPIRY=$expiry is not a number of seconds."
[ "$timeout" -lt "$expiry" ] || die "DAPHNE_WEBSOCKET_TIMEOUT=$timeout must be below CHANNEL_LAYER_GROUP_EXPIRY=$expiry: a socket open longer than its Group membership hears nothing."

exec "${BIN}daphne" asgi:channel_layer --bind "$DAPHNE_BIND" --port "$port" \
    --ping-interval 20 --ping-timeout 30 \
    --websocket_timeout "$timeout" --websocket_connect_timeout 10 \
    --access-log - "$@"
