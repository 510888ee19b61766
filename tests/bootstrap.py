"""Loaded by pytest before Django is configured (``-p tests.bootstrap``): test-run environment.

The suite uses SQLite and in-process services unless DATABASE_URL / REDIS_URL are set, in which case
the very same tests run against the real PostgreSQL and Redis (as CI does).
"""
import os
import tempfile
from pathlib import Path

_var = Path(tempfile.mkdtemp(prefix="aimonitor-test-"))
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghij")
os.environ.setdefault("AIMONITOR_VAR_DIR", str(_var))
os.environ.setdefault("AIMONITOR_LOG_DIR", str(_var / "logs"))
os.environ.setdefault("LOG_TO_FILES", "0")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("YOLO_CONFIG_DIR", str(_var / "ultralytics"))
# Fast hashing in tests: bcrypt stays first in production settings.
os.environ.setdefault("AIMONITOR_TEST_FAST_HASHER", "1")
if os.environ.get("REDIS_URL"):
    # Keep test keys apart from anything else on the same Redis.
    os.environ.setdefault("CACHE_KEY_PREFIX", "aimonitor-test")
    os.environ.setdefault("CHANNELS_PREFIX", "aimonitor-test:asgi")



def _require_services() -> None:
    """CI must exercise the real services: refuse to run (rather than skip) when they are missing
    or unreachable."""
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"AIMONITOR_REQUIRE_SERVICES=1 but {', '.join(missing)} is not set")
    import environ
    import psycopg
    import redis

    db = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    try:
        # The maintenance database: the test database is created by pytest-django later.
        psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or None,
                        password=db["PASSWORD"] or None, dbname="postgres", connect_timeout=5).close()
    except psycopg.Error as exc:
        raise SystemExit(f"AIMONITOR_REQUIRE_SERVICES=1 but PostgreSQL is unreachable: {exc}") from None
    try:
        redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"AIMONITOR_REQUIRE_SERVICES=1 but Redis is unreachable: {exc}") from None


if os.environ.get("AIMONITOR_REQUIRE_SERVICES") == "1":
    _require_services()
