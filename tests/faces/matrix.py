"""Permission matrix of the face library endpoints."""
import io
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile

from tests import media
from tests.matrix import READ, Endpoint, expect, operator_write

OPERATOR_READ = expect(401, 403, 200, 200)


def _library(ctx):
    from faces.models import FaceLibrary

    library, _ = FaceLibrary.objects.get_or_create(name="matrix")
    return library


def _library_id(ctx):
    return {"pk": _library(ctx).pk}


def _face_id(ctx):
    from faces.models import Face

    face = Face.objects.create(library=_library(ctx), name="Matrix", person_id="m1", image="faces/m.jpg",
                               vector=b"\0" * 512)
    return {"pk": face.pk}


def _import_id(ctx):
    from faces.models import FaceImport

    return {"pk": FaceImport.objects.create(library=_library(ctx), archive="faces/imports/m.zip").pk}


def _astronaut():
    return SimpleUploadedFile("astronaut.jpg", media.jpeg_bytes(media.astronaut_image()), "image/jpeg")


def _upload(ctx):
    return {"name": "Astronaut", "person_id": "a1", "library": _library(ctx).pk, "face_image": _astronaut()}


def _search(ctx):
    return {"face_image": _astronaut()}


def _import(ctx):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not an image")
    return {"library": _library(ctx).pk, "face_zip": SimpleUploadedFile("faces.zip", buffer.getvalue())}


ENDPOINTS = [
    Endpoint("GET", "faces:library-list", READ),
    Endpoint("POST", "faces:library-list", operator_write(201),
             data=lambda ctx: {"name": f"lib-{ctx.user.pk if ctx.user else 0}"}),
    Endpoint("GET", "faces:library-detail", READ, kwargs=_library_id),
    Endpoint("PUT", "faces:library-detail", operator_write(200), kwargs=_library_id,
             data={"name": "renamed", "description": "d", "is_watchlist": True}),
    Endpoint("PATCH", "faces:library-detail", operator_write(200), kwargs=_library_id, data={"description": "x"}),
    Endpoint("DELETE", "faces:library-detail", operator_write(204), kwargs=_library_id),
    Endpoint("GET", "faces:face-list", READ),
    Endpoint("GET", "faces:face-detail", READ, kwargs=_face_id),
    Endpoint("PUT", "faces:face-detail", operator_write(200), kwargs=_face_id,
             data=lambda ctx: {"name": "N", "person_id": "p", "library": _library(ctx).pk, "metadata": {}}),
    Endpoint("PATCH", "faces:face-detail", operator_write(200), kwargs=_face_id, data={"name": "Renamed"}),
    Endpoint("DELETE", "faces:face-detail", operator_write(204), kwargs=_face_id),
    Endpoint("POST", "faces:face-upload", operator_write(201), data=_upload, format="multipart"),
    Endpoint("POST", "faces:face-extract-features", READ, data=_search, format="multipart"),
    Endpoint("POST", "faces:face-search", READ, data=_search, format="multipart"),
    Endpoint("POST", "faces:face-batch-import", operator_write(202), data=_import, format="multipart"),
    Endpoint("GET", "faces:import-list", OPERATOR_READ),
    Endpoint("GET", "faces:import-detail", OPERATOR_READ, kwargs=_import_id),
]
