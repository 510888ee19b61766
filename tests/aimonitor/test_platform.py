"""Health, security headers, CORS, production settings (check --deploy, no secret key), logging."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

BASE_DIR = Path(django_settings.BASE_DIR)
STRONG_KEY = "k3y-" + "x9Yq2Lm8Zp4Rt6Vb1Nc7Hd5Jf3Gs0Wk" * 2

pytestmark = pytest.mark.django_db


def run_python(code: str, env: dict[str, str], timeout: int = 60) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter in the project folder, with only ``env`` (plus PATH/HOME)
    as its environment, so the settings module is evaluated from scratch."""
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env={**base, **env}, capture_output=True,
                          text=True, timeout=timeout)


def run_manage(args: list[str], env: dict[str, str], timeout: int = 60) -> subprocess.CompletedProcess:
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"DEBUG": "0", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "aimonitor.example.com",
            "AIMONITOR_VAR_DIR": str(tmp_path / "var"), "AIMONITOR_LOG_DIR": str(tmp_path / "logs"), **extra}


# --- health ------------------------------------------------------------------------------------

def test_health_reports_the_four_checks(api_client):
    response = api_client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "channel_layer", "broker"}
    for check in body["checks"].values():
        assert check["status"] == "ok" and check["latency_ms"] >= 0
    assert body["checks"]["database"]["vendor"] == ("postgresql" if os.environ.get("DATABASE_URL") else "sqlite")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


def test_health_is_503_when_the_cache_is_unreachable(api_client):
    broken = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
                          "OPTIONS": {"socket_connect_timeout": 1}}}
    with override_settings(CACHES=broken):
        response = api_client.get("/api/health/")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "degraded"
        assert body["checks"]["cache"]["status"] == "down"
        assert "Connection" in body["checks"]["cache"]["error"]
        assert body["checks"]["database"]["status"] == "ok"


def test_health_is_503_when_the_broker_is_unreachable(api_client):
    from aimonitor.celery import app

    previous = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{_closed_port()}/0"
    try:
        response = api_client.get("/api/health")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["status"] == "down"


# --- security headers and CORS -----------------------------------------------------------------

def test_security_headers(api_client):
    response = api_client.get("/api/health", secure=True)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["X-Request-ID"]


def test_cors_allows_only_the_configured_origins(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://console.example.com"]
    ok = api_client.get("/api/health", HTTP_ORIGIN="https://console.example.com")
    assert ok["Access-Control-Allow-Origin"] == "https://console.example.com"
    preflight = api_client.options("/api/auth/login", HTTP_ORIGIN="https://console.example.com",
                                   HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                                   HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type")
    assert preflight.status_code == 200
    assert "authorization" in preflight["Access-Control-Allow-Headers"]
    denied = api_client.get("/api/health", HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in denied


def test_production_settings_come_from_the_environment(tmp_path):
    env = production_env(tmp_path, CORS_ALLOWED_ORIGINS="https://a.example.com, https://b.example.com",
                         LOG_TO_FILES="0")
    code = ("import json, django, os; os.environ['DJANGO_SETTINGS_MODULE']='aimonitor.settings'; "
            "from django.conf import settings as s; print(json.dumps({'cors': s.CORS_ALLOWED_ORIGINS, "
            "'hasher': s.PASSWORD_HASHERS[0], 'debug': s.DEBUG, 'session_secure': s.SESSION_COOKIE_SECURE, "
            "'csrf_secure': s.CSRF_COOKIE_SECURE, 'hsts': s.SECURE_HSTS_SECONDS, 'hosts': s.ALLOWED_HOSTS}))")
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values == {"cors": ["https://a.example.com", "https://b.example.com"],
                      "hasher": "django.contrib.auth.hashers.BCryptSHA256PasswordHasher", "debug": False,
                      "session_secure": True, "csrf_secure": True, "hsts": 31536000,
                      "hosts": ["aimonitor.example.com"]}


def test_check_deploy_is_clean_with_production_like_settings(tmp_path):
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path, LOG_TO_FILES="0"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_complains_about_a_weak_key(tmp_path):
    # The check itself works: a short key fails it (so the clean run above means something).
    result = run_manage(["check", "--deploy", "--fail-level", "WARNING"],
                        production_env(tmp_path, SECRET_KEY="short", LOG_TO_FILES="0"))
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_production_mode_without_a_secret_key_refuses_to_start(tmp_path):
    env = production_env(tmp_path, LOG_TO_FILES="0")
    del env["SECRET_KEY"]
    result = run_manage(["check"], env)
    assert result.returncode == 2
    assert "refusing to start" in result.stderr and "SECRET_KEY" in result.stderr
    # The ASGI server's import fails the same way, so no server starts.
    result = run_python("import aimonitor.asgi", env)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_secret_key_may_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(STRONG_KEY + "\n")
    env = production_env(tmp_path, LOG_TO_FILES="0", SECRET_KEY_FILE=str(key_file))
    del env["SECRET_KEY"]
    result = run_python("import os; os.environ['DJANGO_SETTINGS_MODULE']='aimonitor.settings'; "
                        "from django.conf import settings; print(settings.SECRET_KEY)", env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == STRONG_KEY


def test_debug_is_off_unless_the_dev_mode_asks(tmp_path):
    code = ("import os; os.environ['DJANGO_SETTINGS_MODULE']='aimonitor.settings'; "
            "from django.conf import settings; print(settings.DEBUG)")
    env = {"SECRET_KEY": STRONG_KEY, "LOG_TO_FILES": "0", "AIMONITOR_VAR_DIR": str(tmp_path / "var")}
    assert run_python(code, env).stdout.strip() == "False"
    dev = {"AIMONITOR_DEV": "1", "LOG_TO_FILES": "0", "AIMONITOR_VAR_DIR": str(tmp_path / "var")}
    assert run_python(code, dev).stdout.strip() == "True"
    assert (tmp_path / "var" / "secret_key").exists()  # dev mode keeps a generated key under var/


# --- logging -----------------------------------------------------------------------------------

LOGGING_SCRIPT = """
import logging, logging.handlers, os
os.environ['DJANGO_SETTINGS_MODULE'] = 'aimonitor.settings'
import django
django.setup()
from django.test import Client
client = Client()
assert client.get('/api/health').status_code in (200, 503)
assert client.get('/api/no-such-path').status_code == 404
logging.getLogger('aimonitor.anything').error('boom-marker %s', 42)
logging.getLogger('aimonitor.anything').info('info-marker')
root = logging.getLogger()
print(sorted(type(h).__name__ for h in root.handlers))
print(sorted(type(h).__name__ for h in logging.getLogger('aimonitor.access').handlers))
"""


def test_logs_go_to_rotating_files_with_access_and_errors_apart(tmp_path):
    env = production_env(tmp_path, LOG_TO_FILES="1", ALLOWED_HOSTS="testserver", SECURE_SSL_REDIRECT="0",
                         SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    result = run_python(LOGGING_SCRIPT, env)
    assert result.returncode == 0, result.stderr
    root_handlers, access_handlers = result.stdout.strip().splitlines()[-2:]
    assert "RotatingFileHandler" in root_handlers and "StreamHandler" in root_handlers
    assert access_handlers == "['RotatingFileHandler']"
    access = (tmp_path / "logs" / "access.log").read_text()
    error = (tmp_path / "logs" / "error.log").read_text()
    assert "GET /api/health" in access and "GET /api/no-such-path 404" in access
    assert "boom-marker 42" in error and "ERROR" in error
    assert "boom-marker" not in access
    assert "GET /api/health" not in error
    assert "info-marker" not in error  # the error log holds warnings and worse
    assert "boom-marker 42" in result.stderr  # the console gets everything too
