"""FrameReader against real H.264 video: a generated file, and RTSP from a loopback server that the
test stops and restarts mid-read."""
from __future__ import annotations

import os
import threading
import time

import pytest

from streams.capture import FrameReader, grab_one, iter_frames, redact
from tests.streams.conftest import closed_port_url


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def collect(reader: FrameReader, seconds: float) -> list:
    frames, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = reader.get(timeout=max(0.01, deadline - time.monotonic()))
        if frame is not None:
            frames.append(frame)
    return frames


def test_file_is_sampled_at_the_requested_rate_in_real_time(clip_dir):
    statuses = []
    reader = FrameReader(str(clip_dir / "short.mp4"), sample_fps=4, loop=True,
                         on_status=lambda s, r: statuses.append(s)).start()
    try:
        frames = collect(reader, 2.0)
    finally:
        reader.close()
    # 4 fps for 2 s, played at the clip's own 10 fps pace (not as fast as it decodes).
    assert 6 <= len(frames) <= 10, len(frames)
    assert 15 <= reader.frames_read <= 25, reader.frames_read
    assert frames[0].image.shape == (240, 320, 3)
    gaps = [b.timestamp - a.timestamp for a, b in zip(frames, frames[1:], strict=False)]
    assert all(0.15 <= gap <= 0.45 for gap in gaps), gaps
    assert statuses == ["online"]
    assert reader.facts["codec"] == "h264" and reader.facts["fps"] == 10


def test_looped_file_keeps_playing_past_its_end(clip_dir):
    reader = FrameReader(str(clip_dir / "short.mp4"), sample_fps=2, loop=True).start()
    try:
        frames = collect(reader, 4.5)  # the clip lasts 3 s
    finally:
        reader.close()
    assert len(frames) >= 8
    assert reader.frames_read > 30


def test_file_without_loop_ends_and_get_returns_none(clip_dir):
    statuses = []
    with FrameReader(str(clip_dir / "short.mp4"), sample_fps=5, on_status=lambda s, r: statuses.append((s, r))) as r:
        frames = collect(r, 4.0)
        assert not r.alive
        assert r.get(timeout=0.2) is None
    assert 13 <= len(frames) <= 17
    assert statuses == [("online", ""), ("offline", "end of file")]


def test_iter_frames_yields_timestamps_and_bgr_frames(clip_dir):
    items = list(iter_frames(str(clip_dir / "short.mp4"), sample_fps=2, timeout=2))
    assert 5 <= len(items) <= 7
    timestamps = [t for t, _ in items]
    assert timestamps == sorted(timestamps)
    assert all(frame.ndim == 3 and frame.shape[2] == 3 for _, frame in items)


def test_missing_file_reports_error_and_retries(tmp_path):
    statuses = []
    reader = FrameReader(str(tmp_path / "gone.mp4"), sample_fps=1, backoff_initial=0.05, backoff_max=0.1,
                         on_status=lambda s, r: statuses.append((s, r))).start()
    try:
        assert reader.get(timeout=0.5) is None
        assert reader.alive  # it keeps retrying, the file may appear
    finally:
        reader.close()
    assert statuses[0][0] == "error" and "file not found" in statuses[0][1]
    assert not reader.alive


def test_unreachable_camera_goes_offline_with_backoff_and_no_leak():
    url = closed_port_url()
    statuses, threads, fds = [], threading.active_count(), open_fds()
    reader = FrameReader(url, sample_fps=1, open_timeout=1, read_timeout=1, backoff_initial=0.05,
                         backoff_max=0.2, on_status=lambda s, r: statuses.append((s, r))).start()
    try:
        assert wait_for(lambda: statuses, 5)
        time.sleep(1.0)  # several reconnect attempts
    finally:
        reader.close()
    assert statuses == [("offline", f"cannot open {url}")]
    assert reader.get(timeout=0.1) is None
    assert threading.active_count() == threads
    assert open_fds() <= fds + 1


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    reader = FrameReader("rtsp://127.0.0.1:1/x", sample_fps=1, backoff_initial=1, backoff_max=8)
    delays = [[reader._backoff(attempt) for _ in range(50)] for attempt in range(6)]
    for attempt, samples in enumerate(delays):
        full = min(8, 2 ** attempt)
        assert all(full / 2 <= d <= full for d in samples)
        assert len({round(d, 6) for d in samples}) > 1  # jittered


def test_credentials_are_masked_in_reader_messages():
    assert redact("rtsp://admin:s3cret@10.0.0.1:554/live") == "rtsp://admin:****@10.0.0.1:554/live"
    assert redact("rtsp://10.0.0.1/live") == "rtsp://10.0.0.1/live"
    with pytest.raises(ConnectionError) as info:
        grab_one(closed_port_url().replace("rtsp://", "rtsp://admin:s3cret@"), timeout=1)
    assert "s3cret" not in str(info.value) and "****" in str(info.value)


def test_grab_one_of_a_dead_camera_is_bounded():
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        grab_one(closed_port_url(), timeout=2)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("keyframes_only", [False, True], ids=["opencv-grab-retrieve", "pyav-keyframes"])
def test_rtsp_reader_reconnects_after_the_server_restarts(rtsp_server, keyframes_only):
    """GIVEN a reader on a live RTSP stream WHEN the server dies mid-read and comes back
    THEN status goes offline then online and frames resume, with no thread or fd leak."""
    statuses = []
    threads, fds = threading.active_count(), open_fds()
    reader = FrameReader(rtsp_server.url("long.mp4"), sample_fps=5, open_timeout=5, read_timeout=3,
                         backoff_initial=0.2, backoff_max=1.0, keyframes_only=keyframes_only,
                         on_status=lambda s, r: statuses.append(s)).start()
    try:
        assert wait_for(lambda: reader.status == "online", 20), reader.last_error
        assert len(collect(reader, 2.5 if keyframes_only else 1.0)) >= 2  # GOP 10 at 10 fps: 1 keyframe/s
        rtsp_server.stop()
        assert wait_for(lambda: reader.status == "offline", 20), reader.status
        while reader.get(timeout=0.1) is not None:  # drop frames buffered before the drop
            pass
        assert collect(reader, 0.5) == []
        rtsp_server.start()
        assert wait_for(lambda: reader.status == "online", 30), reader.last_error
        resumed = collect(reader, 2.5)
        assert len(resumed) >= 2
        assert resumed[0].image.shape == (240, 320, 3)
    finally:
        reader.close()
    assert statuses[:3] == ["online", "offline", "online"]
    assert reader.reconnects >= 1
    assert not reader.alive
    assert wait_for(lambda: threading.active_count() <= threads, 5)
    assert open_fds() <= fds + 2


def test_keyframes_only_decodes_just_the_keyframes(clip_dir):
    """long.mp4 has a keyframe every 10 frames (1 s): sampling 5 fps from keyframes yields ~1 per second
    while every packet is still demuxed."""
    reader = FrameReader(str(clip_dir / "long.mp4"), sample_fps=5, keyframes_only=True, pace=False).start()
    frames = []
    while reader.alive or (frame := reader.get(timeout=0)) is not None:
        frame = reader.get(timeout=0.05)
        if frame is not None:
            frames.append(frame)
    reader.close()
    assert reader.frames_read == 396  # 12 pictures x 33 frames
    assert reader.frames_sampled == 40
    assert reader.status == "offline" and reader.last_error == "end of file"
    assert reader.facts == {"width": 320, "height": 240, "fps": 10.0, "codec": "h264"}


def test_keyframes_only_loops_a_file_in_real_time(clip_dir):
    reader = FrameReader(str(clip_dir / "short.mp4"), sample_fps=1, loop=True, keyframes_only=True).start()
    try:
        frames = collect(reader, 4.5)  # 3 s clip, default GOP: at least its first keyframe per loop
    finally:
        reader.close()
    assert len(frames) >= 2
    assert frames[-1].timestamp - frames[0].timestamp >= 2.5


def test_keyframes_only_reports_an_unreachable_camera_offline():
    statuses = []
    reader = FrameReader(closed_port_url(), sample_fps=1, keyframes_only=True, open_timeout=1, read_timeout=1,
                         backoff_initial=0.05, backoff_max=0.1, on_status=lambda s, r: statuses.append((s, r))).start()
    try:
        assert wait_for(lambda: statuses, 5)
    finally:
        reader.close()
    assert statuses[0][0] == "offline" and statuses[0][1].startswith("cannot open rtsp://127.0.0.1:")
    assert not reader.alive
