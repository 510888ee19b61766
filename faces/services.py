"""Face library workflows: enroll, update, delete, search, recognise, batch import and re-extraction.

Views, admin, tasks, commands and the monitoring worker all call these functions. Refusals raise
:class:`FaceRejected` (a stable ``code`` and a human ``detail``) and store nothing. The vector index
is told about every change after the database transaction commits (see ``faces.index``).
"""
from __future__ import annotations

import io
import json
import logging
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import cv2
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from aimonitor.live import broadcast, user_group

from . import engine
from .choices import ImportStatus
from .index import get_index
from .models import Face, FaceImport, FaceLibrary

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "WEBP": "webp", "TIFF": "tif", "GIF": "gif"}
MAX_IMAGE_PIXELS = 50_000_000


class FaceRejected(Exception):
    """An image or archive the face library refuses, with a stable code for the API."""

    def __init__(self, code: str, detail: str, field: str = "face_image", status: int = 400):
        super().__init__(detail)
        self.code, self.detail, self.field, self.status = code, detail, field, status


# --- images ----------------------------------------------------------------------------------
def check_upload_size(size: int, limit: int | None = None, field: str = "face_image") -> None:
    limit = limit or settings.MAX_IMAGE_UPLOAD_BYTES
    if size > limit:
        raise FaceRejected("payload_too_large", f"The file is {size} bytes; the limit is {limit} bytes.",
                           field, status=413)


def decode_image(data: bytes, field: str = "face_image") -> tuple[np.ndarray, str]:
    """BGR pixels and a file extension for the bytes of an image; refuses anything else."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise FaceRejected("invalid_image", "The file is empty.", field)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind, (width, height) = probe.format, probe.size
    # ImportError: once ultralytics is imported it patches Image.open to retry unknown files with an
    # optional HEIF plugin, which raises when that plugin is absent.
    except (UnidentifiedImageError, OSError, ValueError, ImportError, Image.DecompressionBombError):
        raise FaceRejected("invalid_image", "The file is not a readable image.", field) from None
    if kind not in IMAGE_EXTENSIONS:
        raise FaceRejected("invalid_image", f"Unsupported image format {kind}.", field)
    # Checked from the header before decoding, so a tiny file that claims huge dimensions costs nothing.
    if width * height > MAX_IMAGE_PIXELS:
        raise FaceRejected("invalid_image", f"The image is {width}x{height}; too many pixels.", field)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise FaceRejected("invalid_image", "The image could not be decoded.", field)
    return image, IMAGE_EXTENSIONS[kind]


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def vector_to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").reshape(-1).tobytes()


def vector_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<f4").astype(np.float32)


# --- extraction ------------------------------------------------------------------------------
@dataclass
class ExtractedFace:
    """The chosen face of an image: where it is, its aligned crop, its vector and its quality."""

    detection: engine.FaceDetection
    crop: np.ndarray
    vector: np.ndarray
    quality: float
    faces_found: int


def extract_face(image: np.ndarray, *, pick_largest: bool = False, min_size: int | None = None) -> ExtractedFace:
    """The one face of ``image`` (or its largest one with ``pick_largest``), refused when there is no
    face, several faces, or a face smaller than ``min_size`` pixels."""
    min_size = settings.FACES_MIN_FACE_SIZE if min_size is None else min_size
    detections = engine.detect(image)
    if not detections:
        raise FaceRejected("no_face", "No face was found in the image.")
    if len(detections) > 1 and not pick_largest:
        raise FaceRejected("multiple_faces", f"{len(detections)} faces were found; send an image with one "
                                             "face, or pick=largest to use the largest.")
    detection = max(detections, key=lambda d: d.area)
    if min(detection.width, detection.height) < min_size:
        raise FaceRejected("face_too_small", f"The face is {detection.width:.0f}x{detection.height:.0f} pixels; "
                                             f"at least {min_size}x{min_size} is needed.")
    eng = engine.get_engine()
    crop = eng.align(image, detection)
    vector = eng.feature(crop)
    return ExtractedFace(detection, crop, vector, engine.quality(detection, crop), len(detections))


def draw_landmarks(image: np.ndarray, detection: engine.FaceDetection) -> np.ndarray:
    """A copy of ``image`` with the face box and its five landmarks drawn."""
    out = image.copy()
    x1, y1, x2, y2 = (round(v) for v in detection.bbox)
    thickness = max(1, round(max(image.shape[:2]) / 400))
    cv2.rectangle(out, (x1, y1), (x2, y2), (0, 200, 0), thickness)
    colours = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 255), (0, 255, 255)]
    for (x, y), colour in zip(detection.landmarks, colours, strict=True):
        cv2.circle(out, (round(x), round(y)), thickness + 1, colour, -1)
    return out


# --- enroll, update, delete ------------------------------------------------------------------
def enroll(*, library: FaceLibrary, name: str, person_id: str, image_bytes: bytes,
           metadata: dict | None = None, pick_largest: bool = False) -> Face:
    """Stores a face: the image, its aligned crop and its feature vector; the index learns it on commit."""
    check_upload_size(len(image_bytes))
    image, extension = decode_image(image_bytes)
    extracted = extract_face(image, pick_largest=pick_largest)
    stem = uuid.uuid4().hex
    face = Face(library=library, name=name, person_id=person_id, vector=vector_to_bytes(extracted.vector),
                model_name=engine.MODEL_NAME, model_version=engine.MODEL_VERSION, quality=extracted.quality,
                metadata=metadata or {})
    face.image.save(f"{stem}.{extension}", ContentFile(image_bytes), save=False)
    face.crop.save(f"{stem}.jpg", ContentFile(encode_jpeg(extracted.crop)), save=False)
    try:
        with transaction.atomic():
            face.save()
            vector = extracted.vector
            transaction.on_commit(lambda: get_index().added([(face.pk, library.pk, vector)]))
    except Exception:
        _delete_files([face.image.name, face.crop.name])
        raise
    return face


def update_face(face: Face, **changes) -> Face:
    """Changes a face's name, person id, metadata or library; the index follows a library move."""
    # The stored row, not the instance: a form may already have changed the instance's library.
    old_library = Face.objects.filter(pk=face.pk).values_list("library_id", flat=True).first()
    for key, value in changes.items():
        setattr(face, key, value)
    with transaction.atomic():
        face.save()
        if face.library_id != old_library:
            vector = vector_from_bytes(face.vector)
            transaction.on_commit(lambda: get_index().added([(face.pk, face.library_id, vector)]))
    return face


def delete_faces(faces) -> int:
    """Deletes faces (a queryset or a list) with their files; the index drops them at once on commit."""
    rows = list(Face.objects.filter(pk__in=[f.pk if isinstance(f, Face) else f for f in faces])
                .values_list("pk", "image", "crop"))
    if not rows:
        return 0
    ids = [pk for pk, _, _ in rows]
    files = [name for _, image, crop in rows for name in (image, crop) if name]
    with transaction.atomic():
        Face.objects.filter(pk__in=ids).delete()
        transaction.on_commit(lambda: (get_index().removed(ids), _delete_files(files)))
    return len(ids)


def delete_library(library: FaceLibrary) -> int:
    """Deletes a library with all its faces (files and index entries included); returns the face count."""
    with transaction.atomic():
        count = delete_faces(Face.objects.filter(library=library).values_list("pk", flat=True))
        library.delete()
    return count


def _delete_files(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        if name:
            try:
                default_storage.delete(name)
            except OSError:
                logger.warning("Could not delete %s", name, exc_info=True)


# --- search and recognition ------------------------------------------------------------------
def default_threshold() -> float:
    return float(settings.FACES_MATCH_THRESHOLD)


@dataclass
class SearchResult:
    results: list[dict]
    total: int
    query_time_ms: float
    extracted: ExtractedFace


def search(image_bytes: bytes, *, libraries: list[int] | None = None, threshold: float | None = None,
           max_results: int = 10) -> SearchResult:
    """The enrolled faces most similar to the largest face in the image, most similar first, those at
    or above ``threshold`` (cosine similarity, default ``FACES_MATCH_THRESHOLD``)."""
    check_upload_size(len(image_bytes))
    image, _ = decode_image(image_bytes)
    started = time.perf_counter()
    extracted = extract_face(image, pick_largest=True, min_size=settings.FACES_RECOGNISE_MIN_FACE_SIZE)
    threshold = default_threshold() if threshold is None else threshold
    hits = [h for h in get_index().search(extracted.vector, libraries=libraries, k=max_results)[0]
            if h.similarity >= threshold]
    rows = Face.objects.in_bulk([h.face_id for h in hits])
    results = []
    for hit in hits:
        face = rows.get(hit.face_id)
        if face is None:  # deleted in a transaction this process has not heard about yet
            continue
        results.append({"face_id": face.pk, "name": face.name, "person_id": face.person_id,
                        "library_id": face.library_id, "similarity": round(hit.similarity, 4),
                        "face_image": face.image, "metadata": face.metadata})
    elapsed = (time.perf_counter() - started) * 1000
    return SearchResult(results, len(results), round(elapsed, 2), extracted)


@dataclass
class FaceMatch:
    """One face seen in a frame and its best match in the searched libraries.

    ``best`` is None when nothing reaches the threshold (a stranger), else
    ``{"face_id", "name", "person_id", "library_id", "similarity"}``."""

    bbox: list[float]  # [x1, y1, x2, y2] in the frame's pixels
    score: float  # detector confidence
    crop: np.ndarray  # aligned 112x112 BGR face
    best: dict | None
    is_watchlist: bool
    landmarks: list[list[float]] = field(default_factory=list)
    quality: float = 0.0


def recognise(image: np.ndarray, *, libraries: list[int] | None, threshold: float | None = None,
              max_faces: int = 10) -> list[FaceMatch]:
    """Detects up to ``max_faces`` faces in a BGR frame (largest first; faces smaller than
    ``FACES_RECOGNISE_MIN_FACE_SIZE`` are skipped) and matches each against ``libraries``
    (None: all). Similarity is cosine (-1..1); ``threshold`` defaults to ``FACES_MATCH_THRESHOLD``."""
    threshold = default_threshold() if threshold is None else threshold
    min_size = settings.FACES_RECOGNISE_MIN_FACE_SIZE
    eng = engine.get_engine()
    detections = [d for d in eng.detect(image) if min(d.width, d.height) >= min_size]
    detections = sorted(detections, key=lambda d: d.area, reverse=True)[:max(0, max_faces)]
    if not detections:
        return []
    crops = [eng.align(image, d) for d in detections]
    vectors = np.stack([eng.feature(c) for c in crops])
    hits = get_index().search(vectors, libraries=libraries, k=1)
    wanted = [row[0].face_id for row in hits if row and row[0].similarity >= threshold]
    rows = Face.objects.select_related("library").in_bulk(wanted) if wanted else {}
    matches = []
    for detection, crop, row in zip(detections, crops, hits, strict=True):
        best, watchlist = None, False
        face = rows.get(row[0].face_id) if row and row[0].similarity >= threshold else None
        if face is not None:
            best = {"face_id": face.pk, "name": face.name, "person_id": face.person_id,
                    "library_id": face.library_id, "similarity": round(row[0].similarity, 4)}
            watchlist = face.library.is_watchlist
        matches.append(FaceMatch(detection.bbox, detection.score, crop, best, watchlist,
                                 detection.landmarks, engine.quality(detection, crop)))
    return matches


# --- batch import ----------------------------------------------------------------------------
@dataclass
class ArchiveEntry:
    filename: str
    info: zipfile.ZipInfo | None
    problem: str | None = None


def inspect_archive(data_or_file) -> list[ArchiveEntry]:
    """The entries of a zip, with the archive-level caps enforced (entry count, uncompressed total,
    compression ratio: zip bombs) and unsafe names (absolute paths, ``..``) flagged per entry.
    Nothing is ever written to disk under an entry's name."""
    try:
        archive = zipfile.ZipFile(data_or_file)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FaceRejected("invalid_archive", "The file is not a readable zip archive.", "face_zip") from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
    if not infos:
        raise FaceRejected("empty_archive", "The archive holds no files.", "face_zip")
    if len(infos) > settings.FACES_IMPORT_MAX_ENTRIES:
        raise FaceRejected("too_many_entries", f"The archive holds {len(infos)} files; the limit is "
                                               f"{settings.FACES_IMPORT_MAX_ENTRIES}.", "face_zip")
    total = sum(i.file_size for i in infos)
    if total > settings.FACES_IMPORT_MAX_UNCOMPRESSED:
        raise FaceRejected("archive_too_large", f"The archive unpacks to {total} bytes; the limit is "
                                                f"{settings.FACES_IMPORT_MAX_UNCOMPRESSED}.", "face_zip")
    compressed = sum(i.compress_size for i in infos)
    if total > 1024 * 1024 and total > settings.FACES_IMPORT_MAX_RATIO * max(1, compressed):
        raise FaceRejected("zip_bomb", f"The archive expands {total // max(1, compressed)}x; "
                                       "refused as a possible zip bomb.", "face_zip")
    entries = []
    for info in infos:
        name = info.filename.replace("\\", "/")
        path = PurePosixPath(name)
        problem = None
        if name.startswith("/") or ".." in path.parts or (len(name) > 1 and name[1] == ":"):
            problem = "unsafe path (absolute or outside the archive)"
        elif info.flag_bits & 0x1:
            problem = "encrypted entry"
        elif info.file_size > settings.MAX_IMAGE_UPLOAD_BYTES:
            problem = f"file too large ({info.file_size} bytes)"
        entries.append(ArchiveEntry(name, info, problem))
    return entries


def parse_import_metadata(raw: str | dict | None) -> dict:
    """``metadata_json``: ``{filename: {"name", "person_id", "metadata"}}``; every key optional."""
    if raw in (None, ""):
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except json.JSONDecodeError as exc:
        raise FaceRejected("invalid_json", f"metadata_json is not valid JSON: {exc.msg}.", "metadata_json") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise FaceRejected("invalid", "metadata_json must be an object of {filename: {name, person_id, metadata}}.",
                           "metadata_json")
    return value


def start_import(*, library: FaceLibrary, archive_bytes: bytes, metadata, user=None,
                 pick_largest: bool = False) -> FaceImport:
    """Checks the archive, stores it, and queues the import task after the commit."""
    check_upload_size(len(archive_bytes), settings.FACES_IMPORT_MAX_ZIP_BYTES, "face_zip")
    entries = inspect_archive(io.BytesIO(archive_bytes))
    metadata = parse_import_metadata(metadata)
    job = FaceImport(library=library, created_by=user if user and user.is_authenticated else None,
                     metadata=metadata, pick_largest=pick_largest, total=len(entries))
    job.archive.save(f"{uuid.uuid4().hex}.zip", ContentFile(archive_bytes), save=False)
    with transaction.atomic():
        job.save()
        from .tasks import run_import

        transaction.on_commit(lambda: run_import.delay(job.pk))
    return job


def import_progress(job: FaceImport) -> dict:
    return {"type": "faces.import.progress", "import_id": job.pk, "status": job.status, "total": job.total,
            "processed": job.processed, "successful": job.successful, "failed": job.failed}


def import_group(import_id: int) -> str:
    return f"faces-import.{import_id}"


def _push(job: FaceImport) -> None:
    message = import_progress(job)
    broadcast(import_group(job.pk), message)
    if job.created_by_id:
        broadcast(user_group(job.created_by_id), message)


def run_import(import_id: int) -> FaceImport | None:
    """Enrolls every image of a stored import, counting progress as it goes. Claims the job first, so
    a second delivery of the task does nothing."""
    claimed = FaceImport.objects.filter(pk=import_id, status=ImportStatus.PENDING).update(
        status=ImportStatus.RUNNING, started_at=timezone.now())
    if not claimed:
        return None
    job = FaceImport.objects.select_related("library").get(pk=import_id)
    failures: list[dict] = []
    try:
        with job.archive.open("rb") as handle:
            entries = inspect_archive(handle)
            handle.seek(0)
            with zipfile.ZipFile(handle) as archive:
                for entry in entries:
                    reason = entry.problem or _import_entry(job, archive, entry)
                    if reason:
                        failures.append({"filename": entry.filename, "reason": reason})
                    FaceImport.objects.filter(pk=job.pk).update(
                        processed=F("processed") + 1,
                        successful=F("successful") + (0 if reason else 1),
                        failed=F("failed") + (1 if reason else 0))
                    job.refresh_from_db(fields=["processed", "successful", "failed"])
                    _push(job)
        job.status = ImportStatus.DONE
    except FaceRejected as exc:
        job.status, job.error = ImportStatus.FAILED, exc.detail
    except (engine.EngineUnavailable, OSError, zipfile.BadZipFile) as exc:
        # Retrying would enroll the first files twice: the job ends here, with the reason.
        logger.exception("Import %s failed", job.pk)
        job.status, job.error = ImportStatus.FAILED, str(exc)
    job.failed_details = failures
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "failed_details", "finished_at"])
    _push(job)
    return job


def _import_entry(job: FaceImport, archive: zipfile.ZipFile, entry: ArchiveEntry) -> str | None:
    """Enrolls one archive entry; returns why it failed, or None."""
    limit = settings.MAX_IMAGE_UPLOAD_BYTES
    with archive.open(entry.info) as member:
        data = member.read(limit + 1)  # bounded: the header's size may lie
    if len(data) > limit:
        return f"file too large (over {limit} bytes)"
    meta = job.metadata.get(entry.filename) or job.metadata.get(PurePosixPath(entry.filename).name) or {}
    path = PurePosixPath(entry.filename)
    # A folder per person ("alice/1.jpg") names the person; a flat archive uses the file's stem.
    default_name = path.parent.name if path.parent.name else path.stem
    try:
        enroll(library=job.library, name=str(meta.get("name") or default_name)[:100],
               person_id=str(meta.get("person_id") or default_name)[:100], image_bytes=data,
               metadata=meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {},
               pick_largest=job.pick_largest)
    except FaceRejected as exc:
        return f"{exc.code}: {exc.detail}"
    except engine.EngineUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the import
        logger.warning("Import %s: %s failed", job.pk, entry.filename, exc_info=True)
        return f"error: {exc}"
    return None


# --- re-extraction ---------------------------------------------------------------------------
@dataclass
class ReextractReport:
    total: int = 0
    updated: int = 0
    failed: list[dict] = field(default_factory=list)


def reextract(faces=None, *, only_outdated: bool = False, batch_size: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> ReextractReport:
    """Recomputes vectors, crops and quality from the stored images with the current face model, in
    batches of ``batch_size``; every process reloads its index at the end."""
    batch_size = batch_size or settings.FACES_REEXTRACT_BATCH
    queryset = Face.objects.all() if faces is None else faces
    if only_outdated:
        queryset = queryset.exclude(model_name=engine.MODEL_NAME, model_version=engine.MODEL_VERSION)
    ids = list(queryset.order_by("pk").values_list("pk", flat=True))
    report = ReextractReport(total=len(ids))
    try:
        for start in range(0, len(ids), batch_size):
            for face in Face.objects.filter(pk__in=ids[start:start + batch_size]).order_by("pk"):
                try:
                    with face.image.open("rb") as handle:
                        image, _ = decode_image(handle.read())
                    extracted = extract_face(image, pick_largest=True, min_size=0)
                except (FaceRejected, OSError, ValueError) as exc:
                    report.failed.append({"face_id": face.pk, "reason": str(exc)})
                    continue
                old_crop = face.crop.name
                face.crop.save(f"{uuid.uuid4().hex}.jpg", ContentFile(encode_jpeg(extracted.crop)), save=False)
                Face.objects.filter(pk=face.pk).update(
                    vector=vector_to_bytes(extracted.vector), quality=extracted.quality, crop=face.crop.name,
                    model_name=engine.MODEL_NAME, model_version=engine.MODEL_VERSION, updated_at=timezone.now())
                _delete_files([old_crop])
                report.updated += 1
            if progress:
                progress(min(start + batch_size, len(ids)), len(ids))
    finally:
        if report.updated:
            transaction.on_commit(get_index().invalidate)
    return report
