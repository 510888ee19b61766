#!/usr/bin/env bash
# The embedded single-machine run (`make run`): migrate, seed, collect static files, then serve HTTP
# and WebSocket through daphne; with no REDIS_URL the Celery workers run inside the server process.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-${PORT:-8000}}
HOST=${HOST:-0.0.0.0}
PY=.venv/bin/python
mkdir -p var logs
$PY manage.py migrate --noinput
$PY manage.py seed
$PY manage.py collectstatic --noinput -v0
# With the in-memory broker (no REDIS_URL) the server process runs the Celery worker and beat itself.
export AIMONITOR_EMBEDDED_WORKERS=${AIMONITOR_EMBEDDED_WORKERS:-1}
echo "AIMonitor: http://${HOST}:${PORT}/  (admin: /admin/, API docs: /docs, health: /api/health)"
exec .venv/bin/daphne -b "$HOST" -p "$PORT" --http-timeout 120 --proxy-headers aimonitor.asgi:application
