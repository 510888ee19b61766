"""The staff UI (add with extraction, thumbnails, search by photo, delete, re-extract action) and the
re-extraction service and command."""
from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from faces import engine, services
from faces.models import Face
from tests import media

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user):
    user = make_user("admin", "staffer", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def image_file(image=None, name="face.jpg"):
    return SimpleUploadedFile(name, media.jpeg_bytes(media.astronaut_image() if image is None else image),
                              "image/jpeg")


def test_admin_adds_a_face_through_extraction(staff, library, committed):
    with committed():
        response = staff.post("/admin/faces/face/add/", {"library": library.pk, "name": "Eileen", "person_id": "e1",
                                                         "image": image_file(), "metadata": "{}"})
    assert response.status_code == 302, response.content[:2000]
    face = Face.objects.get()
    assert len(services.vector_from_bytes(face.vector)) == 128 and face.crop
    [match] = services.recognise(media.astronaut_image(), libraries=None)
    assert match.best["face_id"] == face.pk
    listing = staff.get("/admin/faces/face/")
    assert listing.status_code == 200 and face.crop.url in listing.content.decode()
    assert "Search by photo" in listing.content.decode()


def test_admin_refuses_an_image_without_a_face(staff, library):
    blank = np.full((200, 200, 3), 50, np.uint8)
    response = staff.post("/admin/faces/face/add/", {"library": library.pk, "name": "x", "person_id": "x",
                                                     "image": image_file(blank), "metadata": "{}"})
    assert response.status_code == 200
    assert "No face was found" in response.content.decode()
    assert Face.objects.count() == 0


def test_admin_search_by_photo_lists_matches_with_thumbnails(staff, library, enroll_astronaut):
    face = enroll_astronaut(library)
    assert staff.get("/admin/faces/face/search/").status_code == 200
    response = staff.post("/admin/faces/face/search/", {"face_image": image_file(), "threshold": 0.363,
                                                        "max_results": 5})
    page = response.content.decode()
    assert response.status_code == 200 and 'id="search-results"' in page
    assert face.crop.url in page and "Eileen Collins" in page
    blank = np.zeros((100, 100, 3), np.uint8)
    response = staff.post("/admin/faces/face/search/", {"face_image": image_file(blank), "threshold": 0.3,
                                                        "max_results": 5})
    assert "No face was found" in response.content.decode()


def test_admin_search_needs_staff(client, library):
    assert client.get("/admin/faces/face/search/").status_code == 302  # to the login page


def test_admin_delete_action_drops_faces_from_the_index(staff, library, enroll_astronaut, committed):
    face = enroll_astronaut(library)
    with committed():
        response = staff.post("/admin/faces/face/", {"action": "delete_selected", "_selected_action": [face.pk],
                                                     "post": "yes"})
    assert response.status_code == 302
    assert not Face.objects.exists()
    [match] = services.recognise(media.astronaut_image(), libraries=None)
    assert match.best is None


def outdate(face: Face, vector: np.ndarray) -> None:
    Face.objects.filter(pk=face.pk).update(vector=services.vector_to_bytes(vector), model_name="oldnet",
                                           model_version="1")


def test_reextract_restores_vectors_made_by_another_model(library, enroll_astronaut, committed):
    face = enroll_astronaut(library)
    good = services.vector_from_bytes(face.vector)
    outdate(face, engine.normalise(np.ones(128, np.float32)))
    with committed():
        report = services.reextract(only_outdated=True, batch_size=1)
    assert (report.total, report.updated, report.failed) == (1, 1, [])
    face.refresh_from_db()
    assert (face.model_name, face.model_version) == (engine.MODEL_NAME, engine.MODEL_VERSION)
    assert np.allclose(services.vector_from_bytes(face.vector), good, atol=1e-5)
    [match] = services.recognise(media.astronaut_image(), libraries=None)
    assert match.best["face_id"] == face.pk
    assert services.reextract(only_outdated=True).total == 0


def test_reextract_command_reports_progress_and_failures(library, enroll_astronaut, committed):
    first = enroll_astronaut(library)
    second = enroll_astronaut(library, name="copy", person_id="c")
    outdate(first, engine.normalise(np.ones(128, np.float32)))
    second.image.storage.delete(second.image.name)  # its stored image is gone
    out, err = io.StringIO(), io.StringIO()
    with committed():
        call_command("reextract_faces", "--all", "--batch-size", "1", stdout=out, stderr=err)
    assert "re-extracted 1/2" in out.getvalue() and "re-extracted 2/2" in out.getvalue()
    assert "1 updated, 1 failed, 2 considered" in out.getvalue()
    assert f"face {second.pk}:" in err.getvalue()


def test_admin_reextract_action(staff, library, enroll_astronaut, committed):
    face = enroll_astronaut(library)
    outdate(face, engine.normalise(np.ones(128, np.float32)))
    with committed():
        response = staff.post("/admin/faces/face/", {"action": "reextract_features", "_selected_action": [face.pk]},
                              follow=True)
    assert "Re-extracted 1 of 1 face(s)." in response.content.decode()
    face.refresh_from_db()
    assert face.model_name == engine.MODEL_NAME


def test_seed_creates_the_two_libraries_once():
    from faces import seed
    from faces.models import FaceLibrary

    out = io.StringIO()
    seed.run(out)
    seed.run(out)
    assert sorted(FaceLibrary.objects.values_list("name", "is_watchlist")) == [("staff", False), ("watchlist", True)]
    assert out.getvalue().count("created library") == 2
