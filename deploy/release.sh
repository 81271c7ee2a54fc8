#!/bin/sh
# What every deploy runs once, before (re)starting Daphne and the workers:
# apply migrations, and collect static files into DJANGO_STATIC_ROOT
# (default <project>/staticfiles) for nginx or WhiteNoise to serve.
#
#   deploy/release.sh
#
# The Procfile's release line runs this too (on Heroku the build has
# collected the static files already; collecting again finds them unchanged).
#
# Environment: VENV, CHAT_ENV_FILE and the Django settings (deploy/env.example);
# REDIS_URL is not needed here.
set -eu
DEPLOY_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
. "$DEPLOY_DIR/lib.sh"

"$PYTHON" manage.py migrate --noinput
"$PYTHON" manage.py collectstatic --noinput
