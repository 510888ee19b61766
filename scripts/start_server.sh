#!/usr/bin/env bash
# Production web server: the ASGI application (HTTP + WebSockets) under gunicorn with uvicorn
# workers (default) or daphne, on $BIND (127.0.0.1:8000), behind nginx (deploy/nginx/aimonitor.conf).
#
#   scripts/start_server.sh                 # gunicorn, 2 x cores + 1 workers, --timeout 120
#   AIMONITOR_SERVER=daphne scripts/start_server.sh
#
# Environment: BIND, WEB_CONCURRENCY, GUNICORN_TIMEOUT (see deploy/gunicorn.conf.py),
# AIMONITOR_MIGRATE=0 to skip migrations (run them once per deploy, not on every web host),
# AIMONITOR_COLLECTSTATIC=0 to skip collecting static files, PYTHON (default .venv/bin/python).
# Logs go to logs/ (gunicorn-access.log, gunicorn-error.log, and the app's access.log/error.log).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
BIN_DIR=$(dirname "$PYTHON")
SERVER=${AIMONITOR_SERVER:-gunicorn}
BIND=${BIND:-127.0.0.1:8000}
export BIND
export AIMONITOR_LOG_DIR=${AIMONITOR_LOG_DIR:-$PWD/logs}
# Every process of this host writes its metrics here; /metrics merges them.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0
mkdir -p "$AIMONITOR_LOG_DIR" "$PROMETHEUS_MULTIPROC_DIR" var

if [ "${AIMONITOR_MIGRATE:-1}" = 1 ]; then
  "$PYTHON" manage.py migrate --noinput
fi
if [ "${AIMONITOR_COLLECTSTATIC:-1}" = 1 ]; then
  "$PYTHON" manage.py collectstatic --noinput -v0
fi

case "$SERVER" in
  gunicorn)
    exec "$BIN_DIR/gunicorn" -c deploy/gunicorn.conf.py aimonitor.asgi:application
    ;;
  daphne)
    exec "$BIN_DIR/daphne" -b "${BIND%:*}" -p "${BIND##*:}" --http-timeout 120 --proxy-headers \
      --access-log "$AIMONITOR_LOG_DIR/daphne-access.log" aimonitor.asgi:application
    ;;
  *)
    echo "start_server.sh: AIMONITOR_SERVER must be gunicorn or daphne, not '$SERVER'" >&2
    exit 2
    ;;
esac
