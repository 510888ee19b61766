"""Log formatting shared by every process: request ids on each record, JSON output on demand, and
redaction of credentials (camera URLs with user:password, tokens in query strings, bearer tokens)."""
from __future__ import annotations

import contextvars
import json
import logging
import re

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds the current request id (or "-") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key in ("method", "path", "status", "duration_ms", "user"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info or record.exc_text:
            # exc_text when set: RedactingFilter has already rendered and cleaned the traceback.
            payload["exc_info"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


REDACTED = "***"
# scheme://user:password@host -> scheme://***:***@host (camera URLs carry credentials).
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s/'\"<>]+)@")
# ?token=... &password=... &secret=... (ZLMediaKit's API secret travels as ?secret=).
_SECRET_PARAMS = "|".join((
    "token", "access_token", "refresh_token", "password", "passwd", "pwd", "secret", "api_key", "apikey",
    "key", "signature", "sig", "auth", "credentials", "session", "sessionid", "csrftoken",
))
_QUERY_SECRET = re.compile(rf"(?P<lead>[?&;](?:{_SECRET_PARAMS})=)[^&#\s'\"<>]+", re.IGNORECASE)
# password=..., "token": "...", 'secret': '...' in messages and dict reprs.
_ASSIGNED_SECRET = re.compile(
    r"(?P<lead>\b(?:password|passwd|secret|token|access_token|refresh_token|api_key|secret_key)['\"]?"
    r"\s*[:=]\s*['\"]?)(?P<value>[^\s'\",&;}{)]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<lead>\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")


def redact(text: str) -> str:
    """Returns ``text`` with credentials and tokens replaced by ``***``.

    Each pattern runs only when a cheap substring test says it could match: most log lines hold no
    secret, and this runs on every record of every process.
    """
    if not text:
        return text
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}:{REDACTED}@", text)
    lowered = text.lower()
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group("lead") + REDACTED, text)
    if any(word in lowered for word in ("pass", "secret", "token", "api_key")):
        text = _ASSIGNED_SECRET.sub(lambda m: m.group("lead") + REDACTED, text)
    if any(word in lowered for word in ("bearer", "basic", "token")):
        text = _BEARER.sub(lambda m: m.group("lead") + REDACTED, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Cleans every record before any handler writes it: the rendered message, the traceback and the
    access-log ``path``. The record is rewritten in place (message rendered, args dropped), so every
    handler downstream sees the clean text."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logged as it is
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if isinstance(getattr(record, "path", None), str):
            record.path = redact(record.path)
        return True
