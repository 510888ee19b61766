"""No credentials in logs: camera URLs, tokens in query strings, bearer tokens, JWTs."""
from __future__ import annotations

import io
import json
import logging

import pytest

from aimonitor.logging import JsonFormatter, RedactingFilter, RequestIdFilter, redact

CASES = [
    ("open rtsp://admin:S3cret!@10.0.0.5:554/Streaming/101 failed", "rtsp://***:***@10.0.0.5:554/Streaming/101"),
    ("rtsp://admin:p@ss@cam.local/live", "rtsp://***:***@cam.local/live"),
    ("GET /ws/alerts/?token=eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJl&x=1", "/ws/alerts/?token=***&x=1"),
    ("http://zlm:80/index/api/addStreamProxy?secret=035c73f7-bb6b&vhost=__defaultVhost__",
     "?secret=***&vhost=__defaultVhost__"),
    ("Authorization: Bearer abcdef0123456789", "Bearer ***"),
    ("login payload {'username': 'bob', 'password': 'hunter22'}", "'password': '***'"),
    ('{"refresh_token": "abc.def.ghi"}', '"refresh_token": "***"'),
    ("connecting with password=hunter2 now", "password=*** now"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_redact_hides_credentials(raw, expected):
    cleaned = redact(raw)
    assert expected in cleaned
    for secret in ("S3cret", "p@ss", "c2lnbmF0dXJl", "035c73f7", "abcdef0123456789", "hunter2", "abc.def"):
        assert secret not in cleaned


@pytest.mark.parametrize("text", [
    "rtsp://cam.local:554/live opened at 25 fps",
    "user bob@example.com logged in",
    "token_not_valid: the token expired",
    "GET /api/alerts?page=2&status=new 200",
])
def test_redact_leaves_ordinary_text_alone(text):
    assert redact(text) == text


def _logger_with(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.redaction.{id(out)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def test_json_log_lines_carry_no_camera_credentials_in_message_or_traceback():
    logger, out = _logger_with(JsonFormatter())
    url = "rtsp://operator:Very$ecret@192.0.2.10:554/h264"
    logger.warning("Camera %s unreachable", url)
    try:
        raise ConnectionError(f"could not open {url}?token=abc123456789")
    except ConnectionError:
        logger.exception("Capture failed")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["message"] == "Camera rtsp://***:***@192.0.2.10:554/h264 unreachable"
    assert lines[0]["request_id"] == "-"
    assert "ConnectionError" in lines[1]["exc_info"]
    assert "Very$ecret" not in out.getvalue()
    assert "abc123456789" not in out.getvalue()


def test_text_log_lines_are_redacted_too():
    logger, out = _logger_with(logging.Formatter("%(levelname)s %(message)s"))
    logger.info("proxy %s", {"url": "rtmp://u:pw12345@host/app", "secret": "zlm-secret"})
    assert out.getvalue().strip() == "INFO proxy {'url': 'rtmp://***:***@host/app', 'secret': '***'}"


def test_every_configured_handler_redacts(settings):
    """The project's LOGGING puts the redaction filter on every handler (console, files), and the
    live console handler has it."""
    assert settings.LOGGING["filters"]["redact"] == {"()": "aimonitor.logging.RedactingFilter"}
    for name, handler in settings.LOGGING["handlers"].items():
        if handler["class"] != "logging.NullHandler":
            assert handler["filters"][0] == "redact", name
    # pytest adds its own capture handlers to the root logger; the project's are plain StreamHandlers.
    console = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    assert console
    assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in console)


def test_access_log_never_records_the_query_string(client, caplog):
    caplog.set_level(logging.INFO, logger="aimonitor.access")
    client.get("/api/health?token=leaky-token-123456")
    messages = [r.getMessage() for r in caplog.records if r.name == "aimonitor.access"]
    assert messages and all("leaky-token" not in m for m in messages)
