#!/usr/bin/env bash
# A Celery worker: by default for the inference queue and the default queue. On a GPU host, run one
# per GPU (or per group of GPUs) and pick them with CUDA_VISIBLE_DEVICES:
#
#   CUDA_VISIBLE_DEVICES=0 WORKER_NAME=gpu0 scripts/start_worker.sh
#   CUDA_VISIBLE_DEVICES=1 WORKER_NAME=gpu1 WORKER_QUEUES=inference scripts/start_worker.sh
#
# Environment:
#   WORKER_QUEUES        queues to consume (default: "inference,default")
#   WORKER_CONCURRENCY   processes (default: 2 per visible GPU, 2 on a CPU-only host; 2 to 4 per GPU
#                        is the useful range: more processes only queue on the same GPU)
#   INFERENCE_DEVICE     auto | cpu | cuda | cuda:N (default: cuda:0 when CUDA_VISIBLE_DEVICES is set,
#                        else auto); the worker refuses to start when the GPU is not there
#   GPU_MEMORY_FRACTION  share of the GPU's memory each process may take (default: 0.9 divided by the
#                        processes per GPU)
#   WORKER_NAME          node name (default: the queue list @ host name)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
QUEUES=${WORKER_QUEUES:-inference,default}
export AIMONITOR_LOG_DIR=${AIMONITOR_LOG_DIR:-$PWD/logs}
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0
# Ask NVML, not the CUDA runtime, whether a GPU exists, so the parent process never creates a CUDA
# context before it forks its pool (a forked CUDA context is unusable).
export PYTORCH_NVML_BASED_CUDA_CHECK=1
mkdir -p "$AIMONITOR_LOG_DIR" "$PROMETHEUS_MULTIPROC_DIR"

gpus=0
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
  IFS=, read -r -a visible <<< "$CUDA_VISIBLE_DEVICES"
  gpus=${#visible[@]}
  export INFERENCE_DEVICE=${INFERENCE_DEVICE:-cuda:0}
fi
if [ "$gpus" -gt 0 ]; then
  CONCURRENCY=${WORKER_CONCURRENCY:-$((2 * gpus))}
  per_gpu=$(( (CONCURRENCY + gpus - 1) / gpus ))
  # Leave ~10% of the GPU for the CUDA context and fragmentation, split between the processes.
  GPU_MEMORY_FRACTION=${GPU_MEMORY_FRACTION:-$(awk -v n="$per_gpu" 'BEGIN { printf "%.3f", 0.9 / n }')}
  export GPU_MEMORY_FRACTION
else
  CONCURRENCY=${WORKER_CONCURRENCY:-2}
fi
NAME=${WORKER_NAME:-${QUEUES//,/-}}
extra=()
if [ -n "${WORKER_MAX_TASKS_PER_CHILD:-}" ]; then
  extra+=(--max-tasks-per-child "$WORKER_MAX_TASKS_PER_CHILD")
fi

exec "$PYTHON" -m celery -A aimonitor worker \
  --queues "$QUEUES" \
  --concurrency "$CONCURRENCY" \
  --hostname "$NAME@%h" \
  --loglevel "${WORKER_LOG_LEVEL:-INFO}" \
  --logfile "$AIMONITOR_LOG_DIR/worker-$NAME.log" \
  "${extra[@]}" "$@"
