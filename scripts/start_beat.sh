#!/usr/bin/env bash
# Celery beat: the periodic schedule (CELERY_BEAT_SCHEDULE in settings). Run exactly one per
# deployment; its schedule state lives in var/celerybeat-schedule.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
export AIMONITOR_LOG_DIR=${AIMONITOR_LOG_DIR:-$PWD/logs}
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0
mkdir -p "$AIMONITOR_LOG_DIR" var

exec "$PYTHON" -m celery -A aimonitor beat \
  --loglevel "${BEAT_LOG_LEVEL:-INFO}" \
  --logfile "$AIMONITOR_LOG_DIR/beat.log" \
  --schedule "${BEAT_SCHEDULE_FILE:-var/celerybeat-schedule}" \
  "$@"
