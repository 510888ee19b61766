"""Deployment checks: `check --deploy` in production settings, the scripts (bash -n, shellcheck),
the gunicorn configuration, and settings that must hold in production."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([*ROOT.glob("scripts/*.sh"), *ROOT.glob("bench/*.sh")])


def production_env(tmp_path, **extra) -> dict:
    """A production environment: no developer mode, DEBUG off, a real secret, TLS at the proxy."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)), "LANG": "C.UTF-8",
           "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "aimonitor.example.com",
           "LOG_TO_FILES": "0", "AIMONITOR_VAR_DIR": str(tmp_path / "var"), "YOLO_CONFIG_DIR": str(tmp_path)}
    env.update(extra)
    return env


def manage(env, *args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)


def test_check_deploy_is_clean_in_production_settings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout + result.stderr


def test_check_deploy_flags_a_production_run_without_tls_settings(tmp_path):
    """The check is not blind: turning the TLS redirect off in production is reported."""
    result = manage(production_env(tmp_path, SECURE_SSL_REDIRECT="0"), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W008" in result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = manage(env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set" in result.stderr


def test_database_pool_settings_apply_to_postgres(tmp_path):
    code = ("from django.conf import settings; d = settings.DATABASES['default']; "
            "print(d['CONN_MAX_AGE'], d['OPTIONS'].get('pool'), d['OPTIONS'].get('connect_timeout'))")
    url = "postgres://postgres@127.0.0.1:5432/aim_production"
    pooled = manage(production_env(tmp_path, DATABASE_URL=url, DB_POOL="1", DB_POOL_MAX_SIZE="16"), "shell", "-c", code)
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.strip().splitlines()[-1] == "0 {'min_size': 2, 'max_size': 16, 'timeout': 10.0} 5"
    persistent = manage(production_env(tmp_path, DATABASE_URL=url, DB_CONN_MAX_AGE="120"), "shell", "-c", code)
    assert persistent.stdout.strip().splitlines()[-1] == "120 None 5"


def test_pooled_connections_work_on_postgres(tmp_path):
    """psycopg's pool (psycopg-pool) is installed and Django uses it against the real server."""
    try:
        import psycopg

        psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    code = ("from django.db import connection\n"
            "with connection.cursor() as c:\n    c.execute('SELECT 41 + 1'); value = c.fetchone()[0]\n"
            "print(type(connection.pool).__name__, value)")
    env = production_env(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres", DB_POOL="1")
    result = manage(env, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "ConnectionPool 42"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_parses(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_scripts_pass_shellcheck():
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is missing: scripts/bootstrap_env.sh installs it (apt-get install shellcheck)")
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(["shellcheck", "--severity=style", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_start_server_refuses_an_unknown_server(tmp_path):
    env = {**os.environ, "AIMONITOR_SERVER": "apache", "AIMONITOR_MIGRATE": "0", "AIMONITOR_COLLECTSTATIC": "0",
           "AIMONITOR_LOG_DIR": str(tmp_path / "logs"), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    result = subprocess.run(["bash", "scripts/start_server.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "must be gunicorn or daphne" in result.stderr


def test_gunicorn_config_defaults(monkeypatch):
    import multiprocessing
    import runpy

    for name in ("WEB_CONCURRENCY", "GUNICORN_TIMEOUT", "BIND", "AIMONITOR_LOG_DIR"):
        monkeypatch.delenv(name, raising=False)
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert config["workers"] == 2 * multiprocessing.cpu_count() + 1
    assert config["timeout"] == 120
    assert config["worker_class"] == "uvicorn.workers.UvicornWorker"
    assert config["accesslog"] == "logs/gunicorn-access.log"
    assert config["errorlog"] == "logs/gunicorn-error.log"
    assert config["logger_class"] == "aimonitor.serving.RedactingLogger"


def test_gunicorn_logger_redacts_tokens_in_uvicorn_lines(tmp_path):
    """uvicorn logs WebSocket handshakes with their query string through gunicorn's handlers."""
    import logging

    from gunicorn.config import Config

    from aimonitor.serving import RedactingLogger

    cfg = Config()
    cfg.set("errorlog", str(tmp_path / "error.log"))
    cfg.set("accesslog", str(tmp_path / "access.log"))
    glog = RedactingLogger(cfg)
    uvicorn_error = logging.getLogger("uvicorn.error.test")
    uvicorn_error.handlers = glog.error_log.handlers
    uvicorn_error.propagate = False
    uvicorn_error.setLevel(logging.INFO)
    path = "/ws/alerts/?token=eyJhbGciOi.eyJ1c2VyIjoxfQ.sig_abcdef"
    uvicorn_error.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", path)
    for handler in glog.error_log.handlers:
        handler.flush()
    text = (tmp_path / "error.log").read_text()
    assert '"WebSocket /ws/alerts/?token=***" [accepted]' in text
    assert "eyJ1c2VyIjoxfQ" not in text


def test_nginx_sample_covers_tls_websockets_static_and_uploads():
    conf = (ROOT / "deploy" / "nginx" / "aimonitor.conf").read_text()
    for needle in ("listen 443 ssl", "ssl_certificate ", "proxy_set_header Upgrade $http_upgrade",
                   "location /static/", "client_max_body_size", "proxy_request_buffering on",
                   "proxy_read_timeout 120s", "location = /metrics { deny all; }", "X-Forwarded-Proto $scheme"):
        assert needle in conf, needle
