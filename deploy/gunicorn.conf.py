"""gunicorn settings for AIMonitor: the ASGI app under uvicorn workers (HTTP and WebSockets).

Run from the project root: ``gunicorn -c deploy/gunicorn.conf.py aimonitor.asgi:application``
(``scripts/start_server.sh`` does). Every value can be overridden from the environment.
"""
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# 2 x cores + 1: the usual figure for I/O-bound web workers; inference runs in Celery, not here.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "uvicorn.workers.UvicornWorker")
# Video work (uploads, probing a camera) can take long: a generous timeout, as in the original design.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "500"))
# nginx on the same host sets X-Forwarded-For/-Proto; trust only it.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

log_dir = os.environ.get("AIMONITOR_LOG_DIR", "logs")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", os.path.join(log_dir, "gunicorn-access.log"))
errorlog = os.environ.get("GUNICORN_ERROR_LOG", os.path.join(log_dir, "gunicorn-error.log"))
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logger_class = "aimonitor.serving.RedactingLogger"
capture_output = True
proc_name = "aimonitor-web"


def on_starting(server):
    from aimonitor.serving import on_starting as hook

    hook(server)


def child_exit(server, worker):
    from aimonitor.serving import child_exit as hook

    hook(server, worker)
