"""CI refuses to run without its real services (tests/bootstrap.py with AIMONITOR_REQUIRE_SERVICES=1),
so a CI run can never pass on SQLite and local memory by accident."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def _collect(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(env_extra, AIMONITOR_REQUIRE_SERVICES="1")
    return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_permission_matrix.py"],
                          cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ci_mode_refuses_to_run_without_service_urls():
    result = _collect({})
    assert result.returncode != 0
    assert "DATABASE_URL, REDIS_URL is not set" in result.stdout + result.stderr


def test_ci_mode_refuses_to_run_when_a_service_is_unreachable():
    port = _closed_port()
    result = _collect({"DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/x",
                       "REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    assert result.returncode != 0
    assert "PostgreSQL is unreachable" in result.stdout + result.stderr
