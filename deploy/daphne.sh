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
# Environment: REDIS_URL (required), DAPHNE_BIND, DAPHNE_PORT, the DAPHNE_*
# variables below, VENV, CHAT_ENV_FILE and the Django settings (README.md,
# "Environment"). The Procfile's web process runs this too.
#
# Flags, chosen on purpose (a variable overrides each number):
#   --proxy-headers (DAPHNE_PROXY_HEADERS=1)  the client's address and scheme
#       come from nginx's or Heroku's X-Forwarded-For/-Proto: what the access
#       log shows and the per-address budgets (interface/budgets.py) count. The
#       chat: endpoint takes the entry DAPHNE_TRUSTED_PROXIES (1) from the
#       right, the one the nearest proxy wrote (nginx.conf sets one; Heroku's
#       router appends one to what the client sent), not Daphne's first one,
#       which the client writes (interface/http_request.py). Right only while the
#       proxies alone reach Daphne: keep DAPHNE_BIND on loopback.
#   --ping-interval 20 --ping-timeout 30 (DAPHNE_PING_INTERVAL,
#       DAPHNE_PING_TIMEOUT)  an idle socket is pinged every 20 s and dropped
#       when its client stays silent 30 s more: dead clients and half-open
#       connections go within a minute, and proxies that cut idle connections
#       (nginx.conf: 300 s, Heroku's router: 55 s) never cut a live one. Keep
#       the interval below every proxy's idle timeout.
#   --websocket_timeout 43200 (DAPHNE_WEBSOCKET_TIMEOUT)  closes a socket after
#       12 h, below the layer's group_expiry (CHANNEL_LAYER_GROUP_EXPIRY, a
#       day): a socket that outlived its Group membership would stay open and
#       hear nothing. The page reconnects and catches up.
#   --websocket_connect_timeout 10  a handshake waits for a worker to run the
#       connect consumer; Daphne's 5 s drops handshakes whenever workers are
#       briefly busy.
#   --access-log -  a line per request and per socket opened and closed, on
#       standard output, which supervisord (daphne_NN.log) and Heroku collect.
#   Left as they are: -t 120 (an HTTP request waits that long for a worker,
#       then 503), no --root-path (nginx.conf serves the site at /; pass
#       --root-path as an argument if a proxy mounts it under a prefix), and
#       no --force-sync: the layer offers Daphne's Twisted mode (replies read
#       as they arrive, interface/twisted_receive.py); --force-sync would poll it
#       instead, sleeping 50 ms whenever nothing was there.
set -eu
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
. "$DEPLOY_DIR/lib.sh"

require_redis

instance=0
if [ $# -gt 0 ] && is_count "$1"; then
    instance=$1
    shift
fi
is_count "$DAPHNE_PORT" && [ "$DAPHNE_PORT" -ge 1 ] || die "DAPHNE_PORT=$DAPHNE_PORT is not a port number."
port=$((DAPHNE_PORT + instance))
[ "$port" -le 65535 ] || die "DAPHNE_PORT + $instance = $port is not a port number."

case "${DAPHNE_PROXY_HEADERS:-1}" in
    1 | true | yes | on) set -- --proxy-headers "$@" ;;
    0 | false | no | off) ;;
    *) die "DAPHNE_PROXY_HEADERS=$DAPHNE_PROXY_HEADERS is not a boolean; use 1 or 0." ;;
esac
# Read by the chat: endpoint (interface/endpoint.py); checked here first.
trusted_proxies=${DAPHNE_TRUSTED_PROXIES:-1}
is_count "$trusted_proxies" || die "DAPHNE_TRUSTED_PROXIES=$trusted_proxies is not a number of proxies (0 or more)."
export DAPHNE_TRUSTED_PROXIES="$trusted_proxies"

ping_interval=$(seconds DAPHNE_PING_INTERVAL 20)
ping_timeout=$(seconds DAPHNE_PING_TIMEOUT 30)
# 0 would not mean "never": Daphne takes it as "the layer's group_expiry".
timeout=$(seconds DAPHNE_WEBSOCKET_TIMEOUT 43200)
expiry=$(seconds CHANNEL_LAYER_GROUP_EXPIRY 86400)
[ "$timeout" -lt "$expiry" ] || die "DAPHNE_WEBSOCKET_TIMEOUT=$timeout must be below CHANNEL_LAYER_GROUP_EXPIRY=$expiry: a socket open longer than its Group membership hears nothing."

# The listening socket, as a Twisted endpoint wrapped in interface/endpoint.py
# so that frames over CHAT_MAX_FRAME_SIZE (autobahn, close code 1009) and
# request bodies over CHAT_MAX_REQUEST_BODY (413) are refused before Daphne
# reads them, and X-Forwarded-For is counted from the right; Daphne's
# --bind/--port offer none of it. Colons in an IPv6 address are escaped for
# the endpoint syntax.
# Connections the kernel holds until Daphne accepts them: Twisted's 50
# overflows when every socket of a Daphne reconnects at once, and each
# overflowed handshake then waits on TCP's retransmit timers (1 s, 3 s, ...).
backlog=${DAPHNE_LISTEN_BACKLOG:-1024}
is_count "$backlog" && [ "$backlog" -ge 1 ] || die "DAPHNE_LISTEN_BACKLOG=$backlog is not a number of connections."

interface=$(printf '%s' "$DAPHNE_BIND" | sed -e 's/^\[//' -e 's/\]$//' -e 's/:/\\:/g')

exec "${BIN}daphne" asgi:channel_layer -e "chat:tcp:port=$port:interface=$interface:backlog=$backlog" \
    --ping-interval "$ping_interval" --ping-timeout "$ping_timeout" \
    --websocket_timeout "$timeout" --websocket_connect_timeout 10 \
    --access-log - "$@"
