"""Smoke test of `make run`'s server script: scripts/run_embedded.sh on a loopback port serves HTTP
and WebSocket; login, register, users, roles, docs and health answer; then it is stopped."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from websockets.sync.client import connect

pytestmark = pytest.mark.e2e

BASE_DIR = Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update({
        "AIMONITOR_DEV": "1", "HOST": "127.0.0.1", "PORT": str(port),
        "AIMONITOR_VAR_DIR": str(tmp_path / "var"), "AIMONITOR_LOG_DIR": str(tmp_path / "logs"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "AIMONITOR_ADMIN_USERNAME": "chief", "AIMONITOR_ADMIN_PASSWORD": "a-long-chief-passphrase",
    })
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(["bash", "scripts/run_embedded.sh"], cwd=BASE_DIR, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited ({process.returncode}):\n{(tmp_path / 'server.log').read_text()}")
            try:
                if requests.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no health after 180 s:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.5)
        yield {"base": base, "port": port, "tmp": tmp_path}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        log.close()


def test_run_embedded_serves_the_platform(server):
    base = server["base"]
    health = requests.get(f"{base}/api/health", timeout=10).json()
    assert health["status"] == "ok"
    assert set(health["checks"]) == {"database", "cache", "channel_layer", "broker"}
    assert health["checks"]["database"]["vendor"] == "sqlite"

    login = requests.post(f"{base}/api/auth/login", json={"username": "chief", "password": "a-long-chief-passphrase"},
                          timeout=10)
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert login.json()["user"]["is_superuser"] is True

    register = requests.post(f"{base}/api/auth/register/", json={"username": "smoke", "email": "smoke@example.com",
                                                                 "password": "a-long-smoke-passphrase"}, timeout=10)
    assert register.status_code == 201 and register.json()["roles"] == ["viewer"]

    users = requests.get(f"{base}/api/users", headers=auth, timeout=10).json()
    assert {u["username"] for u in users["results"]} == {"chief", "smoke"}
    roles = requests.get(f"{base}/api/roles/", headers=auth, timeout=10).json()
    assert [r["code"] for r in roles["results"]] == ["viewer", "operator", "admin"]
    assert requests.get(f"{base}/api/roles", timeout=10).status_code == 401

    for page in ("/docs", "/redoc", "/api/schema/"):
        assert requests.get(f"{base}{page}", timeout=10).status_code == 200
    assert requests.get(f"{base}/admin/login/", timeout=10).status_code == 200
    # Static files (the admin's) are collected and served.
    assert requests.get(f"{base}/static/admin/css/base.css", timeout=10).status_code == 200

    with connect(f"ws://127.0.0.1:{server['port']}/ws/session?token={token}", open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
    assert hello["type"] == "session" and hello["user"]["username"] == "chief"

    # The storage folders exist and the logs are written apart.
    var = server["tmp"] / "var"
    for folder in (var / "media" / "snapshots", var / "models", var / "videos", server["tmp"] / "logs"):
        assert folder.is_dir(), folder
    assert "/api/auth/login" in (server["tmp"] / "logs" / "access.log").read_text()
    # No REDIS_URL: the Celery worker and beat run inside the server process.
    assert "Embedded Celery worker" in (server["tmp"] / "server.log").read_text()
