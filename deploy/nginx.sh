#!/bin/sh
# nginx in front of the chat service, run by any user from a private prefix
# directory: renders nginx.conf (deploy/render-nginx.sh) into
# $NGINX_PREFIX/nginx.conf and runs nginx with it.
#
#   deploy/nginx.sh               render, test, run in the foreground
#   deploy/nginx.sh -s reload     render again, reload the running nginx
#   deploy/nginx.sh -s quit       stop the running nginx gracefully
#   deploy/nginx.sh -t            render and test only
#
# Environment: NGINX_PREFIX [$CHAT_RUN_DIR/nginx] holds nginx.conf,
# nginx.pid, logs/ and tmp/; NGINX_BIN [nginx on PATH, else /usr/sbin/nginx]
# (not NGINX: nginx itself reads that variable, for inherited sockets);
# NGINX_DAEMON=1 to let nginx go to the background instead; and everything
# render-nginx.sh reads (NGINX_LISTEN, DAPHNE_PORT, DAPHNE_PROCESSES, ...).
set -eu
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
. "$DEPLOY_DIR/lib.sh"

prefix=${NGINX_PREFIX:-$CHAT_RUN_DIR/nginx}
case "$prefix" in
    /*) ;;
    *) prefix="$PROJECT_ROOT/$prefix" ;;
esac
prefix=${prefix%/}

nginx=${NGINX_BIN:-}
if [ -z "$nginx" ]; then
    nginx=$(command -v nginx 2>/dev/null || true)
    [ -n "$nginx" ] || { [ -x /usr/sbin/nginx ] && nginx=/usr/sbin/nginx; } ||
        die "nginx is not installed (Debian: sudo apt-get install nginx), or set NGINX_BIN=/path/to/nginx."
fi

mkdir -p "$prefix/logs" "$prefix/tmp"
"$DEPLOY_DIR/render-nginx.sh" "$prefix/nginx.conf"

if [ $# -gt 0 ]; then
    exec "$nginx" -p "$prefix/" -c "$prefix/nginx.conf" "$@"
fi
"$nginx" -q -t -p "$prefix/" -c "$prefix/nginx.conf"
case "${NGINX_DAEMON:-0}" in
    1 | true | yes | on) exec "$nginx" -p "$prefix/" -c "$prefix/nginx.conf" ;;
    *) exec "$nginx" -p "$prefix/" -c "$prefix/nginx.conf" -g 'daemon off;' ;;
esac
