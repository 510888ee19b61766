"""Fixtures for monitoring tests: generated H.264 clips of the shipped pictures of people."""
from __future__ import annotations

import pytest

from tests.media import bus_image, make_clip, zidane_image


@pytest.fixture(scope="session")
def people_clip(tmp_path_factory):
    """A 6-second 640x480 H.264 clip: bus.jpg (4 persons) for 3 s, then zidane.jpg (2 persons) for 3 s."""
    folder = tmp_path_factory.mktemp("clips")
    return make_clip(folder / "people.mp4", [bus_image(), zidane_image()], fps=10, seconds_per_frame=3.0)


@pytest.fixture(autouse=True)
def _monitor_loops_allowed():
    """A test that stopped an in-process Celery worker leaves the worker's process-wide shutdown flag
    set (the real process would be exiting); loops run by the next test must not see it."""
    from streams import worker

    worker.SHUTDOWN.clear()
    yield
