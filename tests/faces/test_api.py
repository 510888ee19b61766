"""The face library API: upload with its refusals, list/filter, update, delete, extract-features and search."""
from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from faces.models import Face
from tests import media
from tests.faces.conftest import rescaled

pytestmark = pytest.mark.django_db

UPLOAD = "/api/faces/upload"
SEARCH = "/api/faces/search"
EXTRACT = "/api/faces/extract-features"


def jpeg(image: np.ndarray, name: str = "face.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, media.jpeg_bytes(image), "image/jpeg")


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT / "faces"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def upload(client, library, image, committed, **extra):
    data = {"name": "Eileen Collins", "person_id": "astro-1", "library": library.pk, "face_image": jpeg(image),
            **extra}
    with committed():
        return client.post(UPLOAD, data, format="multipart")


def assert_refused(response, status: int, code: str, settings):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "detail", "errors"}
    assert Face.objects.count() == 0
    assert stored_files(settings) == []


# --- upload --------------------------------------------------------------------------------------
def test_operator_enrolls_a_face_and_gets_its_vector_and_quality(operator_client, library, committed, settings):
    response = upload(operator_client, library, media.astronaut_image(), committed,
                      metadata='{"department": "space"}')
    assert response.status_code == 201, response.content
    body = response.json()
    vector = np.frombuffer(base64.b64decode(body["vector"]), "<f4")
    assert vector.shape == (128,) and abs(np.linalg.norm(vector) - 1) < 1e-5
    assert 0.5 < body["quality"] <= 1
    assert body["metadata"] == {"department": "space"}
    assert body["model_name"] == "sface" and body["model_version"] == "2021dec-int8bq"
    assert body["image_url"].startswith("http://testserver/media/faces/")
    face = Face.objects.get()
    assert face.library == library and face.person_id == "astro-1"
    assert len(stored_files(settings)) == 2  # the image and the aligned crop
    assert cv2.imread(face.crop.path).shape == (112, 112, 3)
    # The index knows it at once.
    found = operator_client.post(SEARCH, {"face_image": jpeg(cv2.flip(media.astronaut_image(), 1))},
                                 format="multipart").json()
    assert [r["face_id"] for r in found["results"]] == [face.pk]


def test_an_image_without_a_face_is_refused(operator_client, library, committed, settings):
    response = upload(operator_client, library, np.full((300, 300, 3), 90, np.uint8), committed)
    assert_refused(response, 400, "no_face", settings)
    assert "face_image" in response.json()["errors"]


def test_several_faces_are_refused_unless_pick_largest(operator_client, library, committed, settings):
    response = upload(operator_client, library, media.zidane_image(), committed)
    assert_refused(response, 400, "multiple_faces", settings)
    response = upload(operator_client, library, media.zidane_image(), committed, pick="largest")
    assert response.status_code == 201
    assert Face.objects.count() == 1


def test_a_tiny_face_is_refused(operator_client, library, committed, settings):
    response = upload(operator_client, library, rescaled(media.astronaut_image(), 0.3), committed)
    assert_refused(response, 400, "face_too_small", settings)


def test_an_unreadable_image_is_refused(operator_client, library, committed, settings):
    truncated = media.jpeg_bytes(media.astronaut_image())[:300]
    data = {"name": "x", "person_id": "x", "library": library.pk,
            "face_image": SimpleUploadedFile("broken.jpg", truncated, "image/jpeg")}
    with committed():
        response = operator_client.post(UPLOAD, data, format="multipart")
    assert_refused(response, 400, "invalid_image", settings)


def test_a_non_image_is_refused(operator_client, library, committed, settings):
    data = {"name": "x", "person_id": "x", "library": library.pk,
            "face_image": SimpleUploadedFile("notes.jpg", b"just some text, not a picture", "image/jpeg")}
    with committed():
        response = operator_client.post(UPLOAD, data, format="multipart")
    assert_refused(response, 400, "invalid_image", settings)


def test_an_oversized_upload_is_refused_with_413(operator_client, library, committed, settings):
    settings.MAX_IMAGE_UPLOAD_BYTES = 10_000
    response = upload(operator_client, library, media.astronaut_image(), committed)
    assert_refused(response, 413, "payload_too_large", settings)


@pytest.mark.parametrize(("change", "field"), [
    ({"name": None}, "name"),
    ({"library": 999999}, "library"),
    ({"library": "abc"}, "library"),
    ({"face_image": None}, "face_image"),
    ({"metadata": "{not json"}, "metadata"),
    ({"metadata": "[1, 2]"}, "metadata"),
    ({"pick": "smallest"}, "pick"),
])
def test_bad_upload_fields_are_refused(operator_client, library, committed, settings, change, field):
    data = {"name": "x", "person_id": "x", "library": library.pk, "face_image": jpeg(media.astronaut_image())}
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    with committed():
        response = operator_client.post(UPLOAD, data, format="multipart")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert Face.objects.count() == 0 and stored_files(settings) == []


def test_viewer_cannot_enroll(viewer_client, library, committed, settings):
    response = upload(viewer_client, library, media.astronaut_image(), committed)
    assert_refused(response, 403, "permission_denied", settings)


# --- list, update, delete ------------------------------------------------------------------------
def test_list_filters_by_library_name_and_person(viewer_client, library, watchlist):
    from tests.faces.conftest import make_faces, random_vectors

    make_faces(library, random_vectors(3), "staff")
    make_faces(watchlist, random_vectors(2, seed=1), "banned")
    assert viewer_client.get("/api/faces/").json()["count"] == 5
    assert viewer_client.get("/api/faces", {"library": watchlist.pk}).json()["count"] == 2
    assert [f["name"] for f in viewer_client.get("/api/faces", {"person_id": "staff1"}).json()["results"]] == ["staff1"]
    assert viewer_client.get("/api/faces", {"name": "BANNED"}).json()["count"] == 2
    assert viewer_client.get("/api/faces", {"search": "staff2"}).json()["count"] == 1
    assert "vector" not in viewer_client.get("/api/faces").json()["results"][0]
    response = viewer_client.get("/api/faces", {"library": "nope"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_choice"


def test_moving_a_face_to_another_library_moves_it_in_the_index(operator_client, library, watchlist,
                                                                 enroll_astronaut, committed):
    face = enroll_astronaut(library)
    with committed():
        response = operator_client.patch(f"/api/faces/{face.pk}", {"library": watchlist.pk, "name": "E. Collins"})
    assert response.status_code == 200 and response.json()["library"] == watchlist.pk
    image = jpeg(media.astronaut_image())
    hits = operator_client.post(SEARCH, {"face_image": image, "library": watchlist.pk}, format="multipart").json()
    assert [(r["face_id"], r["name"]) for r in hits["results"]] == [(face.pk, "E. Collins")]
    image = jpeg(media.astronaut_image())
    hits = operator_client.post(SEARCH, {"face_image": image, "library": library.pk}, format="multipart").json()
    assert hits["results"] == []


def test_deleting_a_face_removes_its_files_and_index_entry(operator_client, library, enroll_astronaut,
                                                           committed, settings):
    face = enroll_astronaut(library)
    assert len(stored_files(settings)) == 2
    with committed():
        assert operator_client.delete(f"/api/faces/{face.pk}/").status_code == 204
    assert not Face.objects.exists() and stored_files(settings) == []
    hits = operator_client.post(SEARCH, {"face_image": jpeg(media.astronaut_image())}, format="multipart").json()
    assert hits["total"] == 0
    assert operator_client.delete(f"/api/faces/{face.pk}").status_code == 404


def test_deleting_a_library_deletes_its_faces_from_the_index(operator_client, library, enroll_astronaut, committed):
    enroll_astronaut(library)
    with committed():
        assert operator_client.delete(f"/api/face-libraries/{library.pk}").status_code == 204
    assert not Face.objects.exists()
    hits = operator_client.post(SEARCH, {"face_image": jpeg(media.astronaut_image())}, format="multipart").json()
    assert hits["total"] == 0


def test_library_list_counts_faces(viewer_client, library, enroll_astronaut):
    enroll_astronaut(library)
    [row] = viewer_client.get("/api/face-libraries").json()["results"]
    assert row["face_count"] == 1 and row["name"] == "staff"


# --- extract-features ----------------------------------------------------------------------------
def test_extract_features_returns_vector_landmarks_quality_and_annotated_image(viewer_client):
    response = viewer_client.post(EXTRACT, {"face_image": jpeg(media.astronaut_image())}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    vector = np.frombuffer(base64.b64decode(body["features"]["vector"]), "<f4")
    assert vector.shape == (128,)
    assert len(body["features"]["landmarks"]) == 5 and len(body["bbox"]) == 4
    assert 0 < body["face_quality"] <= 1 and body["faces_found"] == 1
    annotated = cv2.imdecode(np.frombuffer(base64.b64decode(body["image_with_landmarks"]), np.uint8), cv2.IMREAD_COLOR)
    assert annotated.shape == media.astronaut_image().shape
    assert Face.objects.count() == 0


def test_extract_features_refuses_a_picture_without_a_face(viewer_client):
    response = viewer_client.post(EXTRACT, {"face_image": jpeg(np.zeros((200, 200, 3), np.uint8))},
                                  format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "no_face"


# --- search --------------------------------------------------------------------------------------
def test_search_orders_results_by_similarity_and_applies_threshold_and_max_results(
        viewer_client, library, watchlist, committed):
    from faces import services

    enrolled = {}
    with committed():
        for name, image in [("original", media.astronaut_image()),
                            ("flipped", cv2.flip(media.astronaut_image(), 1)),
                            ("blurred", cv2.GaussianBlur(media.astronaut_image(), (0, 0), 3))]:
            enrolled[name] = services.enroll(library=library, name=name, person_id=name,
                                             image_bytes=media.jpeg_bytes(image))
        enrolled["zidane"] = services.enroll(library=watchlist, name="zidane", person_id="z",
                                             image_bytes=media.jpeg_bytes(media.zidane_image()), pick_largest=True)
    query = rescaled(media.astronaut_image(), 0.8)
    body = viewer_client.post(SEARCH, {"face_image": jpeg(query), "threshold": -1}, format="multipart").json()
    sims = [r["similarity"] for r in body["results"]]
    assert sims == sorted(sims, reverse=True) and len(sims) == 4
    assert body["results"][-1]["name"] == "zidane" and body["results"][-1]["similarity"] < 0.363
    assert body["total"] == 4 and body["query_time_ms"] > 0
    body = viewer_client.post(SEARCH, {"face_image": jpeg(query)}, format="multipart").json()
    assert {r["name"] for r in body["results"]} == {"original", "flipped", "blurred"}
    assert body["threshold"] == pytest.approx(0.363)
    assert all(r["face_image_url"].startswith("http://testserver/media/") for r in body["results"])
    body = viewer_client.post(SEARCH, {"face_image": jpeg(query), "max_results": 1}, format="multipart").json()
    assert body["total"] == 1 and body["results"][0]["similarity"] == sims[0]
    body = viewer_client.post(SEARCH, {"face_image": jpeg(query), "threshold": -1, "library": watchlist.pk},
                              format="multipart").json()
    assert [r["name"] for r in body["results"]] == ["zidane"]


@pytest.mark.parametrize(("data", "field"), [
    ({"threshold": 2}, "threshold"),
    ({"threshold": "high"}, "threshold"),
    ({"max_results": 0}, "max_results"),
    ({"library": 424242}, "library"),
    ({"face_image": None}, "face_image"),
])
def test_search_refuses_bad_fields(viewer_client, data, field):
    payload = {"face_image": jpeg(media.astronaut_image()), **data}
    payload = {k: v for k, v in payload.items() if v is not None}
    response = viewer_client.post(SEARCH, payload, format="multipart")
    assert response.status_code == 400 and field in response.json()["errors"]


def test_anonymous_cannot_search(api_client):
    response = api_client.post(SEARCH, {"face_image": jpeg(media.astronaut_image())}, format="multipart")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_an_unavailable_face_engine_answers_503(viewer_client, settings, tmp_path):
    from faces import engine

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"garbage" * 1000)
    settings.FACES_DETECTOR_PATH = str(broken)
    engine.reset_engine()
    try:
        response = viewer_client.post(SEARCH, {"face_image": jpeg(media.astronaut_image())}, format="multipart")
    finally:
        engine.reset_engine()
    assert response.status_code == 503 and response.json()["code"] == "face_engine_unavailable"


def test_lists_use_a_fixed_number_of_queries(viewer_client, library, watchlist, django_assert_max_num_queries):
    from tests.faces.conftest import make_faces, random_vectors

    make_faces(library, random_vectors(30), "s")
    make_faces(watchlist, random_vectors(30, seed=2), "w")
    # authentication (user + roles), count, page: no query per row.
    with django_assert_max_num_queries(5):
        assert len(viewer_client.get("/api/faces", {"page_size": 50}).json()["results"]) == 50
    with django_assert_max_num_queries(5):
        rows = viewer_client.get("/api/face-libraries").json()["results"]
    assert [r["face_count"] for r in rows] == [30, 30]
