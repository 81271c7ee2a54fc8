# Shared by the entry scripts in deploy/; sourced, never run. POSIX sh.
#
# The caller sets DEPLOY_DIR (the directory of the script) before sourcing.
# After sourcing:
#   PROJECT_ROOT  the project (the parent of deploy/); the working directory
#   BIN           "<venv>/bin/" or "" (then programs come from PATH)
#   PYTHON        the Python that runs manage.py
# and the defaults every script shares are exported, so supervisord, its
# programs and render-nginx.sh all agree on them.

PROJECT_ROOT=$(dirname -- "$DEPLOY_DIR")
SCRIPT_NAME=$(basename -- "$0")

die() {
    printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2
    exit 1
}

# Optional: a file of VAR=value lines (deploy/env.example shows them all).
# Its values win over the environment, so every process reads the same ones.
if [ -n "${CHAT_ENV_FILE:-}" ]; then
    [ -r "$CHAT_ENV_FILE" ] || die "CHAT_ENV_FILE=$CHAT_ENV_FILE is not a readable file."
    set -a
    # shellcheck disable=SC1090
    . "$CHAT_ENV_FILE"
    set +a
fi

# The Python environment: $VENV if set (relative paths are relative to the
# project), else the project's .venv if it exists, else whatever is on PATH.
if [ -n "${VENV:-}" ]; then
    case "$VENV" in
        /*) ;;
        *) VENV="$PROJECT_ROOT/$VENV" ;;
    esac
    [ -x "$VENV/bin/python" ] || die "VENV=$VENV has no bin/python; create it (make run does) or unset VENV."
    BIN="$VENV/bin/"
elif [ -x "$PROJECT_ROOT/.venv/bin/python" ]; then
    BIN="$PROJECT_ROOT/.venv/bin/"
else
    BIN=""
fi
if [ -n "$BIN" ]; then
    PYTHON="${BIN}python"
elif command -v python3 >/dev/null 2>&1; then
    PYTHON=python3
else
    PYTHON=python
fi

# Defaults shared by supervisord.conf, daphne.sh and render-nginx.sh.
: "${CHAT_RUN_DIR:=$PROJECT_ROOT/run}"   # supervisord's socket, pidfile, logs; nginx's prefix
: "${DAPHNE_PROCESSES:=2}"               # Daphne processes under supervisord
: "${WORKER_PROCESSES:=4}"               # runworker processes under supervisord, every channel
: "${SOCKET_WORKER_PROCESSES:=0}"        # split pools (README): every channel but chat.background
: "${BACKGROUND_WORKER_PROCESSES:=0}"    # split pools: chat.background only
: "${DAPHNE_BIND:=127.0.0.1}"            # Daphne's address; keep it private behind nginx
: "${DAPHNE_PORT:=8001}"                 # Daphne number N listens on DAPHNE_PORT + N
case "$CHAT_RUN_DIR" in
    /*) ;;
    *) CHAT_RUN_DIR="$PROJECT_ROOT/$CHAT_RUN_DIR" ;;
esac
export CHAT_RUN_DIR DAPHNE_PROCESSES WORKER_PROCESSES SOCKET_WORKER_PROCESSES BACKGROUND_WORKER_PROCESSES
export DAPHNE_BIND DAPHNE_PORT
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-proj.settings}"
export PYTHONUNBUFFERED=1

is_count() {
    case "$1" in
        '' | *[!0-9]*) return 1 ;;
        *) return 0 ;;
    esac
}

# The value of variable $1, or $2 if unset or empty: a whole number of
# seconds, at least 1. Use as: ping=$(seconds DAPHNE_PING_INTERVAL 20)
seconds() {
    eval "value=\${$1:-$2}"
    is_count "$value" && [ "$value" -ge 1 ] || die "$1=$value is not a whole number of seconds (1 or more)."
    printf '%s\n' "$value"
}

require_redis() {
    if [ -z "${REDIS_URL:-}" ]; then
        die "REDIS_URL is not set. Daphne and runworker are separate processes and meet only in a Redis channel layer: set REDIS_URL (e.g. redis://127.0.0.1:6379/0) for all of them. For a single development process use 'python manage.py runserver' instead."
    fi
}

cd "$PROJECT_ROOT"
