"""A client for ZLMediaKit's HTTP API (``/index/api/<name>``), written to the behaviour in
``ZLMEDIAKIT.md``.

ZLM answers HTTP 200 even when a call fails; success is ``code == 0`` in the JSON body. Every non-zero
code becomes :class:`ZLMError` (with ``code`` and ZLM's ``msg``); a server that cannot be reached or
does not answer in time becomes :class:`ZLMUnavailable`. The secret travels in the form body, never in
a URL that could end up in a log.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings

from .capture import redact

logger = logging.getLogger(__name__)

# ZLM's documented codes.
OK, OTHER_FAILED, AUTH_FAILED, SQL_FAILED, INVALID_ARGS, EXCEPTION, NOT_FOUND = 0, -1, -100, -200, -300, -400, -500
_ALREADY_EXISTS = "already exists"


class ZLMError(Exception):
    """ZLM answered with a non-zero ``code`` (or something that is not its API at all)."""

    def __init__(self, code: int, msg: str, api: str = ""):
        super().__init__(f"ZLMediaKit {api or 'call'} failed ({code}): {msg}")
        self.code = code
        self.msg = msg
        self.api = api


class ZLMUnavailable(ZLMError):
    """The media server could not be reached, or did not answer within the timeout."""

    def __init__(self, msg: str, api: str = ""):
        super().__init__(EXCEPTION, msg, api)


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes


def _bool(value) -> str:
    return "1" if value else "0"


class ZLMClient:
    """One media server. Methods return the useful part of ZLM's answer and raise :class:`ZLMError`."""

    def __init__(self, base_url: str, secret: str, *, timeout: float = 5.0, vhost: str = "__defaultVhost__"):
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError("ZLM_API_URL must be an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout = timeout
        self.vhost = vhost

    # -- transport --------------------------------------------------------------------------------
    def _post(self, api: str, params: dict, timeout: float | None = None) -> Response:
        form = {k: (_bool(v) if isinstance(v, bool) else str(v)) for k, v in params.items() if v is not None}
        form["secret"] = self.secret
        # The scheme is checked in __init__ (http/https only).
        request = urllib.request.Request(  # noqa: S310
            f"{self.base_url}/index/api/{api}", data=urllib.parse.urlencode(form).encode(), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as reply:  # noqa: S310
                return Response(reply.status, reply.headers.get("Content-Type", ""), reply.read())
        except urllib.error.HTTPError as exc:
            # An unknown API name answers 404 with an HTML page.
            raise ZLMError(NOT_FOUND if exc.code == 404 else EXCEPTION, f"HTTP {exc.code}", api) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ZLMUnavailable(f"media server unreachable: {reason}", api) from None

    def call(self, api: str, timeout: float | None = None, **params) -> dict:
        """Calls ``api`` and returns the whole JSON body once ``code`` is 0."""
        reply = self._post(api, params, timeout)
        try:
            body = json.loads(reply.body)
        except ValueError:
            raise ZLMError(EXCEPTION, "answer is not JSON", api) from None
        if not isinstance(body, dict) or "code" not in body:
            raise ZLMError(EXCEPTION, "answer has no code", api)
        if body["code"] != OK:
            raise ZLMError(int(body["code"]), str(body.get("msg", "")), api)
        return body

    # -- stream proxies ---------------------------------------------------------------------------
    def proxy_key(self, app: str, stream: str) -> str:
        return f"{self.vhost}/{app}/{stream}"

    def add_stream_proxy(self, app: str, stream: str, url: str, **options) -> str:
        """Pulls ``url`` into ZLM as ``app/stream``; returns the proxy key. A stale proxy ("This stream
        already exists") is deleted and the proxy added again."""
        params = {"vhost": self.vhost, "app": app, "stream": stream, "url": url, **options}
        try:
            return self.call("addStreamProxy", **params)["data"]["key"]
        except ZLMError as exc:
            if exc.code != OTHER_FAILED or _ALREADY_EXISTS not in exc.msg.lower():
                raise ZLMError(exc.code, redact(exc.msg), exc.api) from None
        logger.info("ZLM already has %s/%s; replacing the stale proxy", app, stream)
        self.del_stream_proxy(self.proxy_key(app, stream))
        return self.call("addStreamProxy", **params)["data"]["key"]

    def del_stream_proxy(self, key: str) -> bool:
        """Removes a proxy; False when ZLM did not have it."""
        return bool(self.call("delStreamProxy", key=key).get("data", {}).get("flag"))

    def list_stream_proxy(self, key: str | None = None) -> list[dict]:
        return self.call("listStreamProxy", key=key).get("data") or []

    def get_proxy_info(self, key: str) -> dict:
        return self.call("getProxyInfo", key=key).get("data") or {}

    # -- media ------------------------------------------------------------------------------------
    def get_media_list(self, *, schema: str | None = None, app: str | None = None,
                       stream: str | None = None) -> list[dict]:
        """The live media, one entry per protocol; ZLM leaves out ``data`` when nothing matches."""
        return self.call("getMediaList", schema=schema, vhost=self.vhost, app=app, stream=stream).get("data") or []

    def is_media_online(self, app: str, stream: str, schema: str = "rtsp") -> bool:
        return bool(self.call("isMediaOnline", schema=schema, vhost=self.vhost, app=app, stream=stream)["online"])

    def get_snap(self, url: str, *, timeout_sec: float = 5, expire_sec: float = 1) -> bytes:
        """A JPEG of ``url``. ZLM answers its logo as a PNG (HTTP 200) when it cannot read the source,
        so anything but a JPEG body is an error."""
        reply = self._post("getSnap", {"url": url, "timeout_sec": int(timeout_sec), "expire_sec": int(expire_sec)},
                           timeout=timeout_sec + self.timeout)
        content_type = reply.content_type.split(";")[0].strip().lower()
        if content_type == "application/json":
            body = json.loads(reply.body or b"{}")
            raise ZLMError(int(body.get("code", EXCEPTION)), str(body.get("msg", "")), "getSnap")
        if content_type != "image/jpeg" or not reply.body.startswith(b"\xff\xd8"):
            raise ZLMError(OTHER_FAILED, f"no snapshot of the source (got {content_type or 'no type'})", "getSnap")
        return reply.body

    # -- recording --------------------------------------------------------------------------------
    def start_record(self, app: str, stream: str, *, type: int = 1, customized_path: str | None = None,  # noqa: A002
                     max_second: int | None = None) -> bool:
        body = self.call("startRecord", type=type, vhost=self.vhost, app=app, stream=stream,
                         customized_path=customized_path, max_second=max_second)
        return bool(body.get("result", True))

    def stop_record(self, app: str, stream: str, *, type: int = 1) -> bool:  # noqa: A002
        return bool(self.call("stopRecord", type=type, vhost=self.vhost, app=app, stream=stream).get("result", True))

    def is_recording(self, app: str, stream: str, *, type: int = 1) -> bool:  # noqa: A002
        return bool(self.call("isRecording", type=type, vhost=self.vhost, app=app, stream=stream).get("status"))

    # -- server -----------------------------------------------------------------------------------
    def version(self) -> dict:
        return self.call("version").get("data") or {}

    def get_server_config(self) -> dict:
        data = self.call("getServerConfig").get("data") or [{}]
        return data[0] if isinstance(data, list) else data

    def get_statistic(self) -> dict:
        return self.call("getStatistic").get("data") or {}

    # -- playback ---------------------------------------------------------------------------------
    @staticmethod
    def play_urls(app: str, stream: str, *, host: str, http_port: int = 80, rtsp_port: int = 554,
                  rtmp_port: int = 1935) -> dict:
        """The URLs players use for a proxied stream (ZLM's documented URL layout)."""
        http = f"http://{host}" + ("" if http_port == 80 else f":{http_port}")
        ws = f"ws://{host}" + ("" if http_port == 80 else f":{http_port}")
        query = urllib.parse.urlencode({"app": app, "stream": stream, "type": "play"})
        return {
            "rtsp": f"rtsp://{host}:{rtsp_port}/{app}/{stream}",
            "rtmp": f"rtmp://{host}:{rtmp_port}/{app}/{stream}",
            "http_flv": f"{http}/{app}/{stream}.live.flv",
            "ws_flv": f"{ws}/{app}/{stream}.live.flv",
            "hls": f"{http}/{app}/{stream}/hls.m3u8",
            "fmp4": f"{http}/{app}/{stream}.live.mp4",
            "webrtc": f"{http}/index/api/webrtc?{query}",
        }


def get_client() -> ZLMClient | None:
    """The configured media server's client, or None when ZLM is not configured (direct capture)."""
    if not settings.ZLM_API_URL:
        return None
    return ZLMClient(settings.ZLM_API_URL, settings.ZLM_SECRET or "", timeout=settings.ZLM_TIMEOUT,
                     vhost=settings.ZLM_VHOST)
