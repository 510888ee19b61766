"""Fixtures for monitoring tests: generated H.264 clips of the shipped pictures of people."""
from __future__ import annotations

import pytest

from tests.media import bus_image, make_clip, zidane_image


@pytest.fixture(scope="session")
def people_clip(tmp_path_factory):
    """A 6-second 640x480 H.264 clip: bus.jpg (4 persons) for 3 s, then zidane.jpg (2 persons) for 3 s."""
    folder = tmp_path_factory.mktemp("clips")
    return make_clip(folder / "people.mp4", [bus_image(), zidane_image()], fps=10, seconds_per_frame=3.0)
