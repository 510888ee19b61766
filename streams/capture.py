"""Frame capture: open a camera (or a looped local file), sample frames at a set rate, reconnect.

:class:`FrameReader` runs one background thread per stream. It decodes with OpenCV's FFmpeg backend
and uses ``grab()`` for every frame but ``retrieve()`` (colour conversion and the copy into a numpy
array, the expensive half) only for the frames the sampling rate keeps. When the source drops it
reports ``offline``, closes the capture and reopens it with exponential back-off and jitter; when
frames flow again it reports ``online``. Every blocking call is bounded: OpenCV's open and read
timeouts cut a stuck network read, and ``close()`` joins the thread.

This module knows nothing about Django: the worker passes ``streams.services.set_stream_status``
(bound to a stream id) as ``on_status``.
"""
from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

logger = logging.getLogger(__name__)

ONLINE, OFFLINE, ERROR = "online", "offline", "error"
StatusCallback = Callable[[str, str], None]

_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@]*)@")


def redact(url: str) -> str:
    """``rtsp://user:pass@host/x`` -> ``rtsp://user:****@host/x``: the form that may be logged or shown."""

    def _mask(match: re.Match) -> str:
        user, _, password = match.group("userinfo").partition(":")
        return f"{match.group('scheme')}{user}:****@" if password else f"{match.group('scheme')}{user}@"

    return _CREDENTIALS.sub(_mask, url or "", count=1)


@dataclass
class CapturedFrame:
    """One sampled frame: wall-clock ``timestamp`` (seconds since the epoch) and a BGR ``image``."""

    timestamp: float
    image: np.ndarray


def open_capture(url: str, *, open_timeout: float, read_timeout: float) -> cv2.VideoCapture:
    """A ``cv2.VideoCapture`` on the FFmpeg backend with bounded open and read times (FFmpeg's
    interrupt callback aborts a connect or a read that takes longer)."""
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout * 1000)]
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)


def _fourcc(capture: cv2.VideoCapture) -> str:
    code = int(capture.get(cv2.CAP_PROP_FOURCC) or 0)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")
    return text.lower() if text.isprintable() else ""


def capture_facts(capture: cv2.VideoCapture) -> dict:
    """Width, height, fps and codec as the opened capture reports them."""
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    return {
        "width": int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0) or None,
        "height": int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0) or None,
        # FFmpeg reports 90000 or 1000 for some live streams without a frame rate: not a real rate.
        "fps": round(fps, 3) if 0 < fps <= 240 else None,
        "codec": _fourcc(capture),
    }


def grab_one(url: str, *, timeout: float = 10.0) -> tuple[np.ndarray, dict]:
    """Opens ``url``, decodes one frame and closes it. Returns the BGR frame and the facts (with
    ``latency_ms``: open plus first frame). Raises ``ConnectionError`` with the reason otherwise."""
    started = time.monotonic()
    capture = open_capture(url, open_timeout=timeout, read_timeout=timeout)
    try:
        if not capture.isOpened():
            raise ConnectionError(f"cannot open {redact(url)}")
        ok, frame = capture.read()
        if not ok or frame is None:
            raise ConnectionError(f"no frame from {redact(url)} within {timeout:g}s")
        facts = capture_facts(capture)
        facts["width"] = facts["width"] or frame.shape[1]
        facts["height"] = facts["height"] or frame.shape[0]
        facts["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
        return frame, facts
    finally:
        capture.release()


class FrameReader:
    """Reads one stream in a background thread and keeps the newest sampled frame.

    ``sample_fps`` frames per second are kept (by wall clock for live sources; by media time for a
    looped file, which is played at its own pace). ``get()`` hands out each kept frame at most once,
    always the newest: a slow consumer skips frames rather than falling behind.
    """

    def __init__(self, url: str, *, sample_fps: float, loop: bool = False, open_timeout: float = 10.0,
                 read_timeout: float = 10.0, backoff_initial: float = 1.0, backoff_max: float = 30.0,
                 on_status: StatusCallback | None = None, pace: bool = True, keyframes_only: bool = False):
        if sample_fps <= 0:
            raise ValueError("sample_fps must be positive")
        self.url = url
        self.sample_fps = float(sample_fps)
        self.loop = loop
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.on_status = on_status
        # Files play at their own frame rate (a simulated camera); pace=False reads them as fast as
        # they decode (offline analysis, benchmarks). Sampling still follows media time.
        self.pace = pace
        # Decode keyframes only (PyAV; other packets are demuxed and dropped undecoded): 5-10x less CPU
        # when the sampling rate is at or below the source's keyframe rate (see bench/bench_capture.py).
        self.keyframes_only = keyframes_only
        self.status = "unknown"
        self.last_error = ""
        self.frames_read = 0  # frames pulled from the source (grabbed), sampled or not
        self.frames_sampled = 0
        self.reconnects = 0
        self.facts: dict = {}
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: CapturedFrame | None = None
        self._thread: threading.Thread | None = None
        self._capture: cv2.VideoCapture | None = None

    # -- public interface -------------------------------------------------------------------------
    def start(self) -> FrameReader:
        if self._thread is not None:
            raise RuntimeError("FrameReader already started")
        self._thread = threading.Thread(target=self._run, name=f"frame-reader {redact(self.url)}", daemon=True)
        self._thread.start()
        return self

    def get(self, timeout: float) -> CapturedFrame | None:
        """The newest sampled frame not yet handed out, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while self._latest is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._thread is not None and not self._thread.is_alive()):
                    return None
                self._cond.wait(min(remaining, 0.5))
            frame, self._latest = self._latest, None
            return frame

    def close(self, timeout: float | None = None) -> None:
        """Stops the thread and releases the capture. Waits at most about one read timeout (a read in
        progress returns when FFmpeg's interrupt fires)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout if timeout is not None else self.read_timeout + self.open_timeout + 5)
            if thread.is_alive():
                logger.warning("Frame reader for %s did not stop in time", redact(self.url))

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> FrameReader:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the thread -------------------------------------------------------------------------------
    def _set_status(self, status: str, reason: str = "") -> None:
        if status == self.status and reason == self.last_error:
            return
        changed = status != self.status
        self.status = status
        self.last_error = reason if status != ONLINE else ""
        if changed:
            logger.info("Stream %s is %s%s", redact(self.url), status, f": {reason}" if reason else "")
            if self.on_status is not None:
                try:
                    self.on_status(status, reason)
                except Exception:  # noqa: BLE001 - a failing callback must not kill the reader
                    logger.exception("on_status callback failed for %s", redact(self.url))

    def _backoff(self, attempt: int) -> float:
        # Full exponential growth capped at backoff_max, then "equal jitter": half fixed, half random,
        # so many cameras that dropped together do not reconnect in lockstep.
        delay = min(self.backoff_max, self.backoff_initial * (2 ** attempt))
        return delay / 2 + random.uniform(0, delay / 2)

    def _publish(self, image: np.ndarray, timestamp: float) -> None:
        with self._cond:
            self._latest = CapturedFrame(timestamp=timestamp, image=image)
            self.frames_sampled += 1
            self._cond.notify_all()

    def _run(self) -> None:
        attempt = 0
        try:
            while not self._stop.is_set():
                flowed = self._session()
                if self._stop.is_set() or flowed is None:
                    break
                if flowed:
                    attempt = 0
                    self.reconnects += 1
                delay = self._backoff(attempt)
                attempt += 1
                self._stop.wait(delay)
        except Exception as exc:  # noqa: BLE001 - report instead of dying silently
            logger.exception("Frame reader for %s crashed", redact(self.url))
            self._set_status(ERROR, f"reader crashed: {exc}")
        finally:
            self._release()
            with self._cond:
                self._cond.notify_all()
            self._close_db_connections()

    def _release(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()

    @staticmethod
    def _close_db_connections() -> None:
        """``on_status`` may have used Django's database from this thread: close what it opened,
        since nobody else can."""
        try:
            from django.db import connections
        except ImportError:  # pragma: no cover - capture used outside Django
            return
        try:
            connections.close_all()
        except Exception:  # noqa: BLE001
            logger.debug("closing thread DB connections failed", exc_info=True)

    def _session(self) -> bool | None:
        """One connection: open, read until the source fails. Returns True if frames flowed,
        False if not, None when the source is finished for good (a file without ``loop``)."""
        is_file = "://" not in self.url
        if is_file and not os.path.isfile(self.url):
            self._set_status(ERROR, f"file not found: {self.url}")
            return False
        if self.keyframes_only:
            return self._session_keyframes(is_file)
        capture = open_capture(self.url, open_timeout=self.open_timeout, read_timeout=self.read_timeout)
        self._capture = capture
        try:
            if not capture.isOpened():
                self._set_status(OFFLINE, f"cannot open {redact(self.url)}")
                return False
            self.facts = capture_facts(capture)
            if is_file:
                return self._read_file(capture)
            return self._read_live(capture)
        finally:
            self._release()

    def _read_live(self, capture: cv2.VideoCapture) -> bool:
        interval = 1.0 / self.sample_fps
        next_due = 0.0
        flowed = False
        while not self._stop.is_set():
            if not capture.grab():
                reason = "stream ended" if flowed else "no frame received"
                self._set_status(OFFLINE, f"{reason} from {redact(self.url)}")
                return flowed
            now = time.time()
            self.frames_read += 1
            if now >= next_due:
                ok, image = capture.retrieve()
                if not ok or image is None:
                    self._set_status(ERROR, "frame could not be decoded")
                    continue
                # Keep the grid steady (no drift), but never schedule into the past after a stall.
                next_due = max(next_due + interval, now) if next_due else now + interval
                if not flowed:
                    flowed = True
                    self._set_status(ONLINE)
                self._publish(image, now)
        return flowed

    def _read_file(self, capture: cv2.VideoCapture) -> bool | None:
        """Plays the file at its own frame rate (a simulated camera), looping when asked."""
        fps = self.facts.get("fps") or 25.0
        frame_period = 1.0 / fps
        interval = 1.0 / self.sample_fps
        flowed = False
        started = time.monotonic()
        media_time = 0.0  # seconds of video played since `started`, across loops
        next_due = 0.0
        while not self._stop.is_set():
            if not capture.grab():
                if not flowed:
                    self._set_status(ERROR, f"no decodable video in {self.url}")
                    return False
                if not self.loop:
                    self._set_status(OFFLINE, "end of file")
                    return None
                # Rewind; reopen when the container cannot seek.
                if not capture.set(cv2.CAP_PROP_POS_FRAMES, 0) or not capture.grab():
                    capture.release()
                    capture = self._capture = open_capture(self.url, open_timeout=self.open_timeout,
                                                           read_timeout=self.read_timeout)
                    if not capture.grab():
                        self._set_status(ERROR, f"cannot reopen {self.url}")
                        return True
            self.frames_read += 1
            # Real time: wait until this frame's moment on the wall clock.
            wait = started + media_time - time.monotonic() if self.pace else 0
            if wait > 0 and self._stop.wait(wait):
                break
            if media_time >= next_due:
                ok, image = capture.retrieve()
                if ok and image is not None:
                    next_due += interval
                    if not flowed:
                        flowed = True
                        self._set_status(ONLINE)
                    self._publish(image, time.time())
            media_time += frame_period
        return flowed


    def _session_keyframes(self, is_file: bool) -> bool | None:
        """One connection through PyAV, decoding only keyframe packets."""
        import av

        options = {"rtsp_transport": "tcp"} if self.url.lower().startswith("rtsp") else {}
        try:
            container = av.open(self.url, options=options, timeout=(self.open_timeout, self.read_timeout))
        except (av.error.FFmpegError, OSError) as exc:
            self._set_status(OFFLINE, f"cannot open {redact(self.url)}: {redact(str(exc))}")
            return False
        flowed = False
        try:
            if not container.streams.video:
                self._set_status(ERROR, f"no video in {redact(self.url)}")
                return False
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "NONKEY"
            # Frame threading holds several frames back: at one keyframe a second that is seconds of
            # delay. Slice threading returns each frame as soon as its packet is decoded.
            stream.codec_context.thread_type = "SLICE"
            rate = float(stream.average_rate or 0) or None
            self.facts = {"width": stream.codec_context.width or None, "height": stream.codec_context.height or None,
                          "fps": round(rate, 3) if rate and rate <= 240 else None,
                          "codec": stream.codec_context.name or ""}
            interval = 1.0 / self.sample_fps
            started, first_time, next_due = time.monotonic(), None, 0.0
            loop_offset = 0.0
            while not self._stop.is_set():
                try:
                    for packet in container.demux(stream):
                        if self._stop.is_set():
                            return flowed
                        # Empty packets at the end flush the decoder: decode them too.
                        if packet.size:
                            self.frames_read += 1
                            if not packet.is_keyframe:
                                continue
                        for frame in packet.decode():
                            media_time = (frame.time or 0.0) + loop_offset
                            first_time = media_time if first_time is None else first_time
                            if is_file and self.pace:
                                wait = started + (media_time - first_time) - time.monotonic()
                                if wait > 0 and self._stop.wait(wait):
                                    return flowed
                            clock = (media_time - first_time) if is_file else time.monotonic() - started
                            if clock + 1e-6 >= next_due:
                                next_due = clock + interval
                                if not flowed:
                                    flowed = True
                                    self._set_status(ONLINE)
                                self._publish(frame.to_ndarray(format="bgr24"), time.time())
                except (av.error.FFmpegError, OSError) as exc:
                    self._set_status(OFFLINE, f"read failed from {redact(self.url)}: {redact(str(exc))}")
                    return flowed
                if not is_file:
                    self._set_status(OFFLINE, f"stream ended from {redact(self.url)}")
                    return flowed
                if not flowed:
                    self._set_status(ERROR, f"no decodable video in {self.url}")
                    return False
                if not self.loop:
                    self._set_status(OFFLINE, "end of file")
                    return None
                duration = float(container.duration or 0) / 1_000_000 if container.duration else 0.0
                loop_offset += duration or (media_time - first_time + interval)
                container.seek(0)
            return flowed
        finally:
            container.close()


def iter_frames(url: str, *, sample_fps: float, loop: bool = False, timeout: float = 10.0,
                **reader_options) -> Iterator[tuple[float, np.ndarray]]:
    """Yields ``(timestamp, frame)`` from a :class:`FrameReader` until the source ends for good or no
    frame arrives for ``timeout`` seconds; the reader is closed when the generator is."""
    reader = FrameReader(url, sample_fps=sample_fps, loop=loop, **reader_options).start()
    try:
        while True:
            frame = reader.get(timeout)
            if frame is None:
                return
            yield frame.timestamp, frame.image
    finally:
        reader.close()
