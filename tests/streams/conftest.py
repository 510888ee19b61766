"""Fixtures for the streams tests: real H.264 clips, a media root, a fake ZLMediaKit on loopback, and
a real RTSP server (aio-rtsp-toolkit) on free loopback ports that a test can stop and restart."""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.media import astronaut_image, bus_image, make_clip, zidane_image
from tests.streams.fake_zlm import FakeZLM

ZLM_SECRET = "zlm-test-secret"
HOOK_SECRET = "hook-test-secret"


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    """Two real H.264 clips: ``short.mp4`` (3 s at 10 fps, 320x240) and ``long.mp4`` (40 s at 10 fps,
    the RTSP test's source)."""
    folder = tmp_path_factory.mktemp("clips")
    make_clip(folder / "short.mp4", [bus_image(), zidane_image(), astronaut_image()], fps=10,
              seconds_per_frame=1.0, size=(320, 240))
    make_clip(folder / "long.mp4", [bus_image(), zidane_image(), astronaut_image()] * 4, fps=10,
              seconds_per_frame=40 / 12, size=(320, 240), gop=10)
    return folder


@pytest.fixture
def videos(settings, tmp_path, clip_dir) -> Path:
    """An allowed media root holding ``short.mp4``."""
    root = tmp_path / "videos"
    root.mkdir()
    shutil.copy(clip_dir / "short.mp4", root / "short.mp4")
    settings.STREAM_MEDIA_ROOTS = [root]
    return root


@pytest.fixture
def no_zlm(settings):
    settings.ZLM_API_URL = ""
    return settings


@pytest.fixture
def fake_zlm(settings):
    with FakeZLM(ZLM_SECRET) as zlm:
        settings.ZLM_API_URL = zlm.url
        settings.ZLM_SECRET = ZLM_SECRET
        settings.ZLM_TIMEOUT = 2.0
        settings.ZLM_PUBLIC_HOST = "media.example.com"
        yield zlm


@pytest.fixture
def hook_secret(settings):
    settings.ZLM_HOOK_SECRET = HOOK_SECRET
    return HOOK_SECRET


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port_url(scheme: str = "rtsp") -> str:
    """A loopback URL nothing listens on (connection refused at once)."""
    return f"{scheme}://127.0.0.1:{free_port()}/nothing"


class RTSPServer:
    """``rtsp-server --dir DIR`` on loopback: ``url(name)`` reads a file from DIR; ``stop()`` and
    ``start()`` drop and bring back the source on the same port."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.control_port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, name: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{name}"

    def start(self, wait: float = 10.0) -> None:
        exe = Path(sys.executable).with_name("rtsp-server")
        self.process = subprocess.Popen(
            [str(exe), "--dir", str(self.folder), "--host", "127.0.0.1", "--port", str(self.port),
             "--control-port", str(self.control_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("rtsp-server exited at start") from None
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("rtsp-server did not listen in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


@pytest.fixture
def rtsp_server(clip_dir):
    server = RTSPServer(clip_dir)
    server.start()
    yield server
    server.stop()
