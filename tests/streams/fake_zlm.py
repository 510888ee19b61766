"""A local HTTP server that speaks ZLMediaKit's API as ZLMEDIAKIT.md documents it (no real ZLM can
be installed here): the secret in query string, form or JSON body; HTTP 200 with ``code`` for every
outcome; -100 with a Set-Cookie for a bad secret; -300 for a missing parameter; the "This stream
already exists" trap; ``getMediaList`` without ``data`` when nothing matches; ``getSnap`` answering a
JPEG, or its logo PNG after ``timeout_sec`` for a source it cannot read; 404 HTML for unknown names.

Test knobs: ``unreachable`` (source URLs whose pull fails), ``delay`` (seconds before every answer,
to trip client timeouts), ``restart()`` (ZLM lost all proxies), ``calls`` (what was asked).
It also builds the hook bodies ZLM posts to the platform (:func:`hook_body`).
"""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

PROTOCOLS = ("hls", "ts", "rtsp", "rtmp", "fmp4")
REQUIRED = {
    "addStreamProxy": ("vhost", "app", "stream", "url"),
    "delStreamProxy": ("key",),
    "getProxyInfo": ("key",),
    "isMediaOnline": ("schema", "vhost", "app", "stream"),
    "getSnap": ("url", "timeout_sec", "expire_sec"),
    "startRecord": ("type", "vhost", "app", "stream"),
    "stopRecord": ("type", "vhost", "app", "stream"),
    "isRecording": ("type", "vhost", "app", "stream"),
}


def _jpeg() -> bytes:
    image = np.full((72, 128, 3), (40, 160, 40), np.uint8)
    cv2.putText(image, "ZLM", (20, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
    return cv2.imencode(".jpg", image)[1].tobytes()


def _png() -> bytes:
    return cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))[1].tobytes()


class FakeZLM:
    """Start with ``with FakeZLM(secret) as zlm:``; ``zlm.url`` is the base URL."""

    def __init__(self, secret: str = "zlm-secret"):  # noqa: S107 - a test server
        self.secret = secret
        self.proxies: dict[str, dict] = {}  # key -> {vhost, app, stream, url, online}
        self.recording: set[tuple[str, str, str]] = set()
        self.unreachable: set[str] = set()
        self.delay = 0.0
        self.calls: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.snap_jpeg = _jpeg()
        self.logo_png = _png()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        # A client that gave up (timeout tests) leaves a broken pipe: expected, not worth a traceback.
        self.server.handle_error = lambda request, address: None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeZLM:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread:
            self.thread.join(5)

    def restart(self) -> None:
        """What a ZLM restart does to the platform: every proxy is gone."""
        with self.lock:
            self.proxies.clear()
            self.recording.clear()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    # -- the API ----------------------------------------------------------------------------------
    def handle(self, api: str, p: dict) -> tuple[int, str, bytes, dict]:
        """-> (HTTP status, content type, body, extra headers)."""
        self.calls.append((api, p))
        if self.delay:
            time.sleep(self.delay)
        handler = getattr(self, f"api_{api}", None)
        if handler is None:
            return 404, "text/html", b"<html><body><h1>404 Not Found</h1></body></html>", {}
        if p.get("secret") != self.secret:
            return self._json({"code": -100, "msg": "Please login first", "cookie": "AV_COOKIE=x"},
                              {"Set-Cookie": "ZL_COOKIE=deadbeef; Path=/"})
        missing = [name for name in REQUIRED.get(api, ()) if name not in p or p[name] == ""]
        if missing:
            return self._json({"code": -300, "msg": f"Required parameter missed: {missing[0]}"})
        with self.lock:
            result = handler(p)
        if isinstance(result, tuple):
            return result
        return self._json(result)

    @staticmethod
    def _json(body: dict, headers: dict | None = None):
        return 200, "application/json; charset=utf-8", json.dumps(body).encode(), headers or {}

    def api_addStreamProxy(self, p):  # noqa: N802 - ZLM's API names
        key = f"{p['vhost']}/{p['app']}/{p['stream']}"
        if key in self.proxies:
            return {"code": -1, "msg": "This stream already exists"}
        if p["url"] in self.unreachable:
            return {"code": -1, "msg": "DESCRIBE:404 Not Found"}
        self.proxies[key] = {"vhost": p["vhost"], "app": p["app"], "stream": p["stream"], "url": p["url"],
                             "online": True, "options": p}
        return {"code": 0, "data": {"key": key}}

    def api_delStreamProxy(self, p):  # noqa: N802
        return {"code": 0, "data": {"flag": self.proxies.pop(p["key"], None) is not None}}

    def api_listStreamProxy(self, p):  # noqa: N802
        items = [{"key": k, "src_url": v["url"], "status": 0} for k, v in self.proxies.items()
                 if not p.get("key") or p["key"] == k]
        return {"code": 0, "data": items}

    def api_getProxyInfo(self, p):  # noqa: N802
        item = self.proxies.get(p["key"])
        if item is None:
            return {"code": -500, "msg": "can not find the proxy"}
        return {"code": 0, "data": {"key": p["key"], "url": item["url"], "status": 0}}

    def api_getMediaList(self, p):  # noqa: N802
        items = []
        for item in self.proxies.values():
            if not item["online"]:
                continue
            for schema in PROTOCOLS:
                entry = {"schema": schema, "vhost": item["vhost"], "app": item["app"], "stream": item["stream"],
                         "readerCount": 0, "totalReaderCount": 0, "originType": 4, "originUrl": item["url"],
                         "aliveSecond": 10, "bytesSpeed": 1000, "tracks": [{"codec_type": 0, "codec_id_name": "H264"}]}
                if all(not p.get(f) or p[f] == entry[f] for f in ("schema", "vhost", "app", "stream")):
                    items.append(entry)
        return {"code": 0, "data": items} if items else {"code": 0}

    def api_isMediaOnline(self, p):  # noqa: N802
        item = self.proxies.get(f"{p['vhost']}/{p['app']}/{p['stream']}")
        return {"code": 0, "online": bool(item and item["online"] and p["schema"] in PROTOCOLS)}

    def api_getSnap(self, p):  # noqa: N802
        readable = any(item["online"] and p["url"].rstrip("/").endswith(f"/{item['app']}/{item['stream']}")
                       for item in self.proxies.values())
        if readable:
            return 200, "image/jpeg", self.snap_jpeg, {}
        time.sleep(min(float(p["timeout_sec"]), 2.0))
        return 200, "image/png", self.logo_png, {}

    def api_startRecord(self, p):  # noqa: N802
        key = f"{p['vhost']}/{p['app']}/{p['stream']}"
        if key not in self.proxies:
            return {"code": -500, "msg": "can not find the stream"}
        self.recording.add((p["vhost"], p["app"], p["stream"]))
        return {"code": 0, "result": True}

    def api_stopRecord(self, p):  # noqa: N802
        present = (p["vhost"], p["app"], p["stream"]) in self.recording
        self.recording.discard((p["vhost"], p["app"], p["stream"]))
        return {"code": 0, "result": present}

    def api_isRecording(self, p):  # noqa: N802
        return {"code": 0, "status": (p["vhost"], p["app"], p["stream"]) in self.recording}

    def api_version(self, p):
        return {"code": 0, "data": {"branchName": "master", "buildTime": "2026-06-01", "commitHash": "fake"}}

    def api_getServerConfig(self, p):  # noqa: N802
        return {"code": 0, "data": [{"api.secret": self.secret, "http.port": "80", "rtsp.port": "554"}]}

    def api_getStatistic(self, p):  # noqa: N802
        return {"code": 0, "data": {"MediaSource": len(self.proxies) * len(PROTOCOLS)}}

    # -- HTTP plumbing ----------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _params(self) -> dict:
                parsed = urllib.parse.urlsplit(self.path)
                params = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if raw:
                    if self.headers.get("Content-Type", "").startswith("application/json"):
                        params.update({k: str(v) if not isinstance(v, str) else v for k, v in json.loads(raw).items()})
                    else:
                        params.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()})
                return params

            def _serve(self):
                parsed = urllib.parse.urlsplit(self.path)
                prefix = "/index/api/"
                api = parsed.path[len(prefix):] if parsed.path.startswith(prefix) else ""
                status, ctype, body, headers = fake.handle(api or "?", self._params())
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = _serve  # noqa: N815
            do_POST = _serve  # noqa: N815

        return Handler


def hook_body(hook: str, *, app: str = "live", stream: str = "cam1", schema: str = "rtsp",
              vhost: str = "__defaultVhost__", **extra) -> dict:
    """The JSON body ZLM posts for ``hook`` (as ZLMEDIAKIT.md lists), with ``mediaServerId`` and
    ``hook_index``."""
    base = {"mediaServerId": "your_server_id", "hook_index": 7}
    media = {"schema": schema, "vhost": vhost, "app": app, "stream": stream}
    bodies = {
        "on_stream_changed": {**media, "regist": True, "originType": 4, "originTypeStr": "pull",
                              "aliveSecond": 0, "readerCount": 0, "totalReaderCount": 0,
                              "tracks": [{"codec_id_name": "H264", "codec_type": 0, "width": 640, "height": 480,
                                          "fps": 25}]},
        "on_stream_none_reader": media,
        "on_stream_not_found": {**media, "params": "", "ip": "127.0.0.1", "port": 50000, "id": "p1"},
        "on_publish": {**media, "params": "", "ip": "127.0.0.1", "port": 50001, "id": "p2",
                       "originTypeStr": "rtsp_push"},
        "on_play": {**media, "params": "", "ip": "127.0.0.1", "port": 50002, "id": "p3"},
        "on_server_started": {"api.secret": "x", "http.port": "80", "hook.enable": "1"},
        "on_server_keepalive": {"data": {"MediaSource": 5, "Socket": 12}},
        "on_record_mp4": {**media, "start_time": 1764300000, "file_size": 1048576, "time_len": 60.0,
                          "file_path": f"/opt/media/record/{app}/{stream}/2026-11-28/10-00-00.mp4",
                          "file_name": "10-00-00.mp4", "folder": f"/opt/media/record/{app}/{stream}/2026-11-28/",
                          "url": f"record/{app}/{stream}/2026-11-28/10-00-00.mp4"},
    }
    return {**base, **bodies[hook], **extra}
