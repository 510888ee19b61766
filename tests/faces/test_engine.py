"""The face engine on real pictures: YuNet finds faces, SFace vectors separate people."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faces import engine
from tests import media


def test_astronaut_has_one_face_with_five_landmarks_inside_its_box():
    detections = engine.detect(media.astronaut_image())
    assert len(detections) == 1
    face = detections[0]
    x1, y1, x2, y2 = face.bbox
    assert 150 < x1 < x2 < 300 and 40 < y1 < y2 < 200
    assert face.score > 0.8
    assert len(face.landmarks) == 5
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.landmarks)


def test_bus_and_zidane_faces_are_found():
    assert len(engine.detect(media.bus_image())) == 2
    assert len(engine.detect(media.zidane_image())) == 3


def test_a_picture_without_people_has_no_face():
    assert engine.detect(np.full((480, 640, 3), 127, np.uint8)) == []


def test_feature_is_a_unit_length_128_float32_vector():
    image = media.astronaut_image()
    vector = engine.extract(image, engine.detect(image)[0])
    assert vector.shape == (128,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_same_face_flipped_and_rescaled_is_more_similar_than_other_people():
    image = media.astronaut_image()
    reference = engine.extract(image, engine.detect(image)[0])
    flipped = cv2.flip(image, 1)
    small = cv2.resize(image, (320, 320), interpolation=cv2.INTER_AREA)
    for variant in (flipped, small):
        assert float(reference @ engine.extract(variant, engine.detect(variant)[0])) > 0.8
    for other in (media.bus_image(), media.zidane_image()):
        for detection in engine.detect(other):
            assert float(reference @ engine.extract(other, detection)) < 0.363


def test_large_frames_are_detected_at_full_resolution_coordinates():
    image = media.astronaut_image()
    big = cv2.resize(image, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    small_box = engine.detect(image)[0].bbox
    big_box = engine.detect(big)[0].bbox
    # Same face, four times the coordinates (within a few pixels of the 512-px detection).
    assert np.allclose(np.array(big_box) / 4, small_box, atol=6)


def test_quality_prefers_a_sharp_face_to_a_blurred_one():
    image = media.astronaut_image()
    eng = engine.get_engine()
    sharp = eng.detect(image)[0]
    blurred_image = cv2.GaussianBlur(image, (0, 0), 4)
    blurred = eng.detect(blurred_image)[0]
    q_sharp = engine.quality(sharp, eng.align(image, sharp))
    q_blur = engine.quality(blurred, eng.align(blurred_image, blurred))
    assert 0 < q_blur < q_sharp <= 1


def test_a_corrupt_model_file_is_refused_with_engine_unavailable(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx model" * 100)
    folder = engine.bundled_model_dir()
    with pytest.raises(engine.EngineUnavailable):
        engine.FaceEngine(bad, folder / engine.RECOGNIZER_FILE, score_threshold=0.6, nms_threshold=0.3, max_side=640)
    with pytest.raises(engine.EngineUnavailable):
        engine.FaceEngine(tmp_path / "missing.onnx", folder / engine.RECOGNIZER_FILE, score_threshold=0.6,
                          nms_threshold=0.3, max_side=640)
