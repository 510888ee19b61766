"""Real parts for the end-to-end monitoring tests: an RTSP server on loopback serving a generated
clip, and a Celery worker (a separate process on Redis when REDIS_URL is set, else the embedded
in-process worker)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def stop_process(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class RtspServer:
    """``rtsp-server`` (aio-rtsp-toolkit) serving one clip on loopback; can be killed and restarted."""

    def __init__(self, clip: Path, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, folder / clip.name)
        self.folder, self.name = folder, clip.name
        self.port, self.control_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.name}"

    def start(self) -> RtspServer:
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "rtsp-server"), "--dir", str(self.folder), "--host", "127.0.0.1", "--port",
             str(self.port), "--control-port", str(self.control_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def kill(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL)
            self.proc = None


def test_database_url() -> str:
    """DATABASE_URL pointing at the test database this pytest process created."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


class WorkerProcess:
    """``celery -A aimonitor worker`` on Redis, on a queue of its own, reading the test database."""

    def __init__(self, queue: str, log_dir: Path, **env_overrides):
        self.queue = queue
        self.name = f"e2e-{uuid.uuid4().hex[:8]}@127.0.0.1"
        self.log = log_dir / f"{self.name}.log"
        env = {**os.environ, "DATABASE_URL": test_database_url(), "CELERY_TASK_ALWAYS_EAGER": "0",
               "CELERY_INFERENCE_QUEUE": queue, "AIMONITOR_MEDIA_DIR": str(settings.MEDIA_ROOT),
               "MONITOR_HEARTBEAT_SECONDS": "1", "MONITOR_STALE_SECONDS": "15", "LOG_TO_FILES": "0",
               **env_overrides}
        self.handle = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "aimonitor", "worker", "-Q", queue, "-P", "threads", "-c", "4",
             "-n", self.name, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
            env=env, stdout=self.handle, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR)

    def stop(self, sig=signal.SIGTERM) -> None:
        stop_process(self.proc, sig)
        self.handle.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]
