"""``faces.services.recognise``: what the monitoring worker calls on sampled frames."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faces import services
from tests import media
from tests.faces.conftest import rescaled

pytestmark = pytest.mark.django_db


def test_enrolled_astronaut_is_recognised_flipped_and_rescaled(library, enroll_astronaut):
    face = enroll_astronaut(library)
    for frame in (cv2.flip(media.astronaut_image(), 1), rescaled(media.astronaut_image(), 0.6),
                  rescaled(media.astronaut_image(), 1.7)):
        matches = services.recognise(frame, libraries=[library.pk])
        assert len(matches) == 1
        match = matches[0]
        assert match.best is not None
        assert match.best["face_id"] == face.pk
        assert match.best["name"] == "Eileen Collins" and match.best["person_id"] == "astro-1"
        assert match.best["library_id"] == library.pk
        assert match.best["similarity"] > services.default_threshold()
        assert match.crop.shape == (112, 112, 3)
        assert match.is_watchlist is False


def test_people_in_bus_and_zidane_are_strangers(library, enroll_astronaut):
    enroll_astronaut(library)
    for frame in (media.bus_image(), media.zidane_image()):
        matches = services.recognise(frame, libraries=None)
        assert matches, "the pictures have faces"
        assert all(m.best is None and not m.is_watchlist for m in matches)


def test_a_watchlist_hit_is_flagged(watchlist, enroll_astronaut):
    enroll_astronaut(watchlist)
    [match] = services.recognise(media.astronaut_image(), libraries=[watchlist.pk])
    assert match.is_watchlist is True and match.best["library_id"] == watchlist.pk


def test_only_the_chosen_libraries_are_searched(library, watchlist, enroll_astronaut):
    enroll_astronaut(library)
    [match] = services.recognise(media.astronaut_image(), libraries=[watchlist.pk])
    assert match.best is None
    [match] = services.recognise(media.astronaut_image(), libraries=[])
    assert match.best is None


def test_threshold_above_the_similarity_makes_a_stranger(library, enroll_astronaut):
    enroll_astronaut(library)
    [match] = services.recognise(rescaled(media.astronaut_image(), 0.6), libraries=None, threshold=0.999)
    assert match.best is None


def test_largest_faces_come_first_and_max_faces_caps_them():
    frame = media.zidane_image()
    matches = services.recognise(frame, libraries=None, max_faces=2)
    assert len(matches) == 2
    areas = [(m.bbox[2] - m.bbox[0]) * (m.bbox[3] - m.bbox[1]) for m in matches]
    assert areas == sorted(areas, reverse=True)
    assert len(services.recognise(frame, libraries=None)) == 3


def test_small_faces_are_skipped_on_streams(settings):
    settings.FACES_RECOGNISE_MIN_FACE_SIZE = 60
    # bus.jpg's two faces are about 40x50 pixels.
    assert services.recognise(media.bus_image(), libraries=None) == []


def test_a_frame_without_faces_gives_no_matches():
    assert services.recognise(np.zeros((360, 640, 3), np.uint8), libraries=None) == []


def test_a_deleted_face_is_no_longer_recognised(library, enroll_astronaut, committed):
    face = enroll_astronaut(library)
    with committed():
        services.delete_faces([face])
    [match] = services.recognise(media.astronaut_image(), libraries=None)
    assert match.best is None


def test_faces_are_recognised_in_frames_of_a_real_h264_clip(library, enroll_astronaut, tmp_path):
    """GIVEN an enrolled astronaut and an H.264 clip of her picture followed by zidane.jpg
    WHEN frames are read back through OpenCV and passed to recognise (as the worker does)
    THEN her frames match her, and the other people's frames are strangers."""
    face = enroll_astronaut(library)
    clip = media.make_clip(tmp_path / "clip.mp4", [media.astronaut_image(), media.zidane_image()],
                           fps=5, seconds_per_frame=1.0, size=(960, 720))
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 10
    first = services.recognise(frames[2], libraries=[library.pk])
    assert [m.best["face_id"] for m in first] == [face.pk]
    second = services.recognise(frames[7], libraries=[library.pk])
    assert len(second) >= 2 and all(m.best is None for m in second)
