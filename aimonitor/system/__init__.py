"""System status for operators: GPUs (NVML, sampled by the workers), versions, Celery workers and
queues, task counts, and the Prometheus ``/metrics`` endpoint."""
