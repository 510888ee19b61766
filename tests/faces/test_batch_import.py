"""Batch import of a zip of face images: per-file outcomes, zip safety, progress over the API and the
WebSocket."""
from __future__ import annotations

import io
import zipfile

import cv2
import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework_simplejwt.tokens import AccessToken

from faces import services
from faces.models import Face, FaceImport
from tests import media

pytestmark = pytest.mark.django_db

IMPORT = "/api/faces/batch-import"


def make_zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def astronaut_jpeg(**kwargs) -> bytes:
    return media.jpeg_bytes(media.astronaut_image(), **kwargs)


def post_zip(client, library, data: bytes, committed, **extra):
    with committed():
        return client.post(IMPORT, {"library": library.pk, "face_zip": SimpleUploadedFile("faces.zip", data),
                                    **extra}, format="multipart")


def test_good_files_are_enrolled_and_bad_ones_reported_per_file(operator_client, library, committed, settings):
    archive = make_zip({
        "eileen/1.jpg": astronaut_jpeg(),
        "eileen/2.jpg": media.jpeg_bytes(cv2.flip(media.astronaut_image(), 1)),
        "named.jpg": astronaut_jpeg(quality=70),
        "team.jpg": media.jpeg_bytes(media.zidane_image()),
        "empty-room.png": cv2.imencode(".png", np.full((200, 200, 3), 200, np.uint8))[1].tobytes(),
        "notes.txt": b"not an image",
        "../../escape.jpg": astronaut_jpeg(),
        "/etc/absolute.jpg": astronaut_jpeg(),
    })
    metadata = '{"named.jpg": {"name": "Eileen C.", "person_id": "E-7", "metadata": {"badge": 7}}}'
    response = post_zip(operator_client, library, archive, committed, metadata_json=metadata)
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    body = operator_client.get(f"/api/face-imports/{job_id}").json()
    assert body["status"] == "done"
    assert (body["total"], body["total_processed"], body["successful"], body["failed"]) == (8, 8, 3, 5)
    reasons = {d["filename"]: d["reason"] for d in body["failed_details"]}
    assert set(reasons) == {"team.jpg", "empty-room.png", "notes.txt", "../../escape.jpg", "/etc/absolute.jpg"}
    assert reasons["team.jpg"].startswith("multiple_faces")
    assert reasons["empty-room.png"].startswith("no_face")
    assert reasons["notes.txt"].startswith("invalid_image")
    assert reasons["../../escape.jpg"].startswith("unsafe path")
    faces = {(f.name, f.person_id): f for f in Face.objects.filter(library=library)}
    assert set(faces) == {("eileen", "eileen"), ("Eileen C.", "E-7")}
    assert Face.objects.count() == 3
    assert faces[("Eileen C.", "E-7")].metadata == {"badge": 7}
    # Nothing was written under an entry's own name.
    root = settings.MEDIA_ROOT.parent
    assert not [p for p in root.rglob("*") if p.name in ("escape.jpg", "absolute.jpg")]
    # Every enrolled face is searchable.
    hits = services.search(astronaut_jpeg(), libraries=[library.pk]).results
    assert len(hits) == 3


def test_pick_largest_enrolls_group_photos(operator_client, library, committed):
    response = post_zip(operator_client, library, make_zip({"team.jpg": media.jpeg_bytes(media.zidane_image())}),
                        committed, pick="largest")
    assert operator_client.get(f"/api/face-imports/{response.json()['id']}").json()["successful"] == 1


@pytest.mark.parametrize(("setup", "entries", "code"), [
    ({}, None, "invalid_archive"),
    ({"FACES_IMPORT_MAX_ENTRIES": 3}, {f"{i}.jpg": b"x" for i in range(4)}, "too_many_entries"),
    ({"FACES_IMPORT_MAX_UNCOMPRESSED": 1000}, {"a.jpg": b"y" * 600, "b.jpg": b"z" * 600}, "archive_too_large"),
    ({}, {"bomb.jpg": b"\0" * (30 * 1024 * 1024)}, "zip_bomb"),
    ({}, {}, "empty_archive"),
])
def test_unsafe_or_broken_archives_are_refused_whole(operator_client, library, committed, settings,
                                                     setup, entries, code):
    for key, value in setup.items():
        setattr(settings, key, value)
    data = b"PK\x03\x04 definitely not a zip" if entries is None else make_zip(entries)
    response = post_zip(operator_client, library, data, committed)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert "face_zip" in response.json()["errors"]
    assert FaceImport.objects.count() == 0 and Face.objects.count() == 0
    assert not (settings.MEDIA_ROOT / "faces").exists()


def test_an_oversized_archive_is_refused_with_413(operator_client, library, committed, settings):
    settings.FACES_IMPORT_MAX_ZIP_BYTES = 1000
    response = post_zip(operator_client, library, make_zip({"a.jpg": astronaut_jpeg()}), committed)
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert FaceImport.objects.count() == 0


def test_an_entry_larger_than_the_image_limit_is_reported(operator_client, library, committed, settings):
    settings.MAX_IMAGE_UPLOAD_BYTES = 5000
    response = post_zip(operator_client, library, make_zip({"big.jpg": astronaut_jpeg()}, zipfile.ZIP_STORED),
                        committed)
    body = operator_client.get(f"/api/face-imports/{response.json()['id']}").json()
    assert body["failed"] == 1 and body["failed_details"][0]["reason"].startswith("file too large")


@pytest.mark.parametrize(("metadata", "code"), [("{broken", "invalid_json"), ('["a"]', "invalid")])
def test_bad_metadata_json_is_refused(operator_client, library, committed, metadata, code):
    response = post_zip(operator_client, library, make_zip({"a.jpg": astronaut_jpeg()}), committed,
                        metadata_json=metadata)
    assert response.status_code == 400 and response.json()["code"] == code
    assert FaceImport.objects.count() == 0


def test_viewer_cannot_import(viewer_client, library, committed):
    response = post_zip(viewer_client, library, make_zip({"a.jpg": astronaut_jpeg()}), committed)
    assert response.status_code == 403 and FaceImport.objects.count() == 0


def stored_job(library, entries: dict[str, bytes], user=None) -> FaceImport:
    job = FaceImport(library=library, created_by=user, total=len(entries))
    job.archive.save("job.zip", ContentFile(make_zip(entries)), save=False)
    job.save()
    return job


def test_running_the_task_twice_imports_once_and_a_missing_job_is_ignored(library):
    from faces.tasks import run_import

    job = stored_job(library, {"a.jpg": astronaut_jpeg()})
    assert run_import.delay(job.pk).get()["successful"] == 1
    assert run_import.delay(job.pk).get() is None
    assert Face.objects.count() == 1
    assert run_import.delay(987654).get() is None


def test_a_corrupt_stored_archive_fails_the_job_with_a_reason(library):
    job = FaceImport(library=library)
    job.archive.save("job.zip", ContentFile(b"garbage"), save=False)
    job.save()
    services.run_import(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "zip" in job.error and job.finished_at


# --- WebSocket ---------------------------------------------------------------------------------
# Channels closes "old" database connections around each database_sync_to_async call, which would
# close a test transaction's connection on PostgreSQL: these tests commit for real instead.
WS_DB = pytest.mark.django_db(transaction=True)

def ws_connect(path: str, token: str | None):
    from aimonitor.asgi import application

    query = f"?token={token}" if token else ""
    return WebsocketCommunicator(application, f"{path}{query}", headers=[(b"origin", b"http://testserver")])


@WS_DB
def test_operator_follows_import_progress_over_the_websocket(operator, library):
    job = stored_job(library, {"a.jpg": astronaut_jpeg(), "b.txt": b"text", "c.jpg": astronaut_jpeg()})
    token = str(AccessToken.for_user(operator))

    async def scenario():
        communicator = ws_connect(f"/ws/faces/imports/{job.pk}/", token)
        connected, _ = await communicator.connect()
        assert connected
        first = await communicator.receive_json_from()
        assert first["status"] == "pending" and first["processed"] == 0 and first["total"] == 3
        await database_sync_to_async(services.run_import)(job.pk)
        messages = [await communicator.receive_json_from(timeout=5) for _ in range(4)]
        await communicator.disconnect()
        return messages

    messages = async_to_sync(scenario)()
    assert [m["processed"] for m in messages] == [1, 2, 3, 3]
    assert messages[-1]["status"] == "done"
    assert (messages[-1]["successful"], messages[-1]["failed"]) == (2, 1)
    assert all(m["type"] == "faces.import.progress" and m["import_id"] == job.pk for m in messages)


@WS_DB
@pytest.mark.parametrize("who", ["anonymous", "bad-token", "other-viewer", "unknown-import"])
def test_websocket_refuses_who_may_not_follow_the_import(make_user, library, who):
    owner = make_user("viewer", "owner")
    job = stored_job(library, {"a.jpg": b"x"}, user=owner)
    token = {"anonymous": None, "bad-token": "not-a-jwt",
             "other-viewer": str(AccessToken.for_user(make_user("viewer", "nosy"))),
             "unknown-import": str(AccessToken.for_user(make_user("admin", "boss")))}[who]
    path = f"/ws/faces/imports/{job.pk + 1000 if who == 'unknown-import' else job.pk}/"

    async def scenario():
        communicator = ws_connect(path, token)
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert not connected
    assert code == {"anonymous": 4401, "bad-token": 4401, "other-viewer": 4403, "unknown-import": 4404}[who]


@WS_DB
def test_the_viewer_who_started_an_import_may_follow_it(make_user, library):
    owner = make_user("viewer", "owner")
    job = stored_job(library, {"a.jpg": b"x"}, user=owner)

    async def scenario():
        communicator = ws_connect(f"/ws/faces/imports/{job.pk}", str(AccessToken.for_user(owner)))
        connected, _ = await communicator.connect()
        message = await communicator.receive_json_from()
        await communicator.disconnect()
        return connected, message

    connected, message = async_to_sync(scenario)()
    assert connected and message["import_id"] == job.pk
