"""Fixtures for the face library: libraries, enrolled faces from real pictures, random vectors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests import media


@pytest.fixture
def library(db):
    from faces.models import FaceLibrary

    return FaceLibrary.objects.create(name="staff")


@pytest.fixture
def watchlist(db):
    from faces.models import FaceLibrary

    return FaceLibrary.objects.create(name="watchlist", is_watchlist=True)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): ...`` runs the on-commit callbacks (index updates, queued tasks) at exit,
    as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def enroll_astronaut(committed):
    from faces import services

    def enroll(library, name="Eileen Collins", person_id="astro-1", **extra):
        with committed():
            return services.enroll(library=library, name=name, person_id=person_id,
                                   image_bytes=media.jpeg_bytes(media.astronaut_image()), **extra)

    return enroll


def random_vectors(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, 128)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_faces(library, vectors: np.ndarray, name_prefix: str = "p") -> list:
    """Face rows with given vectors (no image work), for index tests."""
    from faces.models import Face
    from faces.services import vector_to_bytes

    faces = [Face(library=library, name=f"{name_prefix}{i}", person_id=f"{name_prefix}{i}", image="faces/x.jpg",
                  vector=vector_to_bytes(v)) for i, v in enumerate(vectors)]
    return Face.objects.bulk_create(faces)


def rescaled(image: np.ndarray, factor: float) -> np.ndarray:
    return cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
