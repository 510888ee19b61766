#!/usr/bin/env bash
# A Celery worker process, by default for the inference queue and the default queue.
#
# Each running monitoring task holds one pool thread for as long as it runs, and the tasks of one
# process share its model (loaded once per process) and batch their frames into one predict call,
# so a worker is one process with a thread pool. On a GPU host run 2 to 4 such processes per GPU
# (WORKERS_PER_GPU, each capped at its share of the GPU's memory), more when there are more GPUs,
# and pick each process's GPU with CUDA_VISIBLE_DEVICES:
#
#   CUDA_VISIBLE_DEVICES=0 WORKER_NAME=gpu0-1 scripts/start_worker.sh
#   CUDA_VISIBLE_DEVICES=0 WORKER_NAME=gpu0-2 scripts/start_worker.sh
#   CUDA_VISIBLE_DEVICES=1 WORKER_NAME=gpu1-1 WORKER_QUEUES=inference scripts/start_worker.sh
#
# Environment:
#   WORKER_QUEUES        queues to consume (default: "inference,default")
#   WORKER_POOL          Celery pool (default: threads)
#   WORKER_CONCURRENCY   pool threads: monitoring tasks this process runs at once (default: 16)
#   INFERENCE_DEVICE     auto | cpu | cuda | cuda:N (default: cuda:0 when CUDA_VISIBLE_DEVICES is set,
#                        else auto); the worker refuses to start when that GPU is not there
#   WORKERS_PER_GPU      processes that share one GPU (default: 2), to size the memory cap
#   GPU_MEMORY_FRACTION  share of the GPU's memory this process may take (default: 0.9 / WORKERS_PER_GPU)
#   WORKER_NAME          node name (default: the queue list), the worker is "<name>@<host>"
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
QUEUES=${WORKER_QUEUES:-inference,default}
export AIMONITOR_LOG_DIR=${AIMONITOR_LOG_DIR:-$PWD/logs}
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0
# Ask NVML, not the CUDA runtime, whether a GPU exists: no CUDA context before the pool starts.
export PYTORCH_NVML_BASED_CUDA_CHECK=1
mkdir -p "$AIMONITOR_LOG_DIR" "$PROMETHEUS_MULTIPROC_DIR"

if [ -n "${CUDA_VISIBLE_DEVICES:-}" ] && [ "${CUDA_VISIBLE_DEVICES}" != "-1" ]; then
  export INFERENCE_DEVICE=${INFERENCE_DEVICE:-cuda:0}
  per_gpu=${WORKERS_PER_GPU:-2}
  # Leave ~10% of the GPU for CUDA contexts and fragmentation, split between the processes.
  GPU_MEMORY_FRACTION=${GPU_MEMORY_FRACTION:-$(awk -v n="$per_gpu" 'BEGIN { printf "%.3f", 0.9 / n }')}
  export GPU_MEMORY_FRACTION
fi
NAME=${WORKER_NAME:-${QUEUES//,/-}}

exec "$PYTHON" -m celery -A aimonitor worker \
  --queues "$QUEUES" \
  --pool "${WORKER_POOL:-threads}" \
  --concurrency "${WORKER_CONCURRENCY:-16}" \
  --hostname "$NAME@%h" \
  --loglevel "${WORKER_LOG_LEVEL:-INFO}" \
  --logfile "$AIMONITOR_LOG_DIR/worker-$NAME.log" \
  "$@"
