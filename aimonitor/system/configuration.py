"""Export and import of the platform's configuration as one JSON document (a backup that survives a
database rebuild, or a way to copy a site's set-up to another): stream groups, streams, algorithms,
monitoring tasks and face libraries with their faces, with the face images embedded or not.

What is exported is configuration, not state: a stream's probe results, a task's status and
counters, alerts and users are left out. Every model field that is not such state is exported, so
fields added later travel without changes here. Imports match existing rows by natural key and update
them (group: name + parent, stream: name + URL, algorithm: name + version, task: name + stream,
library: name, face: library + person + feature vector), create the others, restore every task
stopped, and run in one transaction: a bad document changes nothing.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction

FORMAT = "aimonitor-config"
VERSION = 1

# Runtime state and bookkeeping, never configuration.
_COMMON_SKIP = {"id", "created_at", "updated_at"}
SKIP = {
    "streams.StreamGroup": {"parent", "members"},
    "streams.VideoStream": {"status", "last_error", "last_checked", "latency_ms", "width", "height", "fps",
                            "codec", "media_proxy_key", "groups"},
    "algorithms.Algorithm": {"status", "error"},
    "streams.MonitorTask": {"stream", "algorithm", "status", "desired_running", "error", "created_by", "worker",
                            "claim_token", "started_at", "stopped_at", "last_heartbeat", "current_fps",
                            "inference_ms", "frames_processed", "last_frame_time", "live_stats"},
    "faces.FaceLibrary": set(),
    "faces.Face": {"library", "image", "crop", "vector"},
}


class ConfigError(Exception):
    """The document cannot be imported; nothing was written."""


def _model(label: str):
    return apps.get_model(label)


def _plain_fields(label: str) -> list[models.Field]:
    skip = _COMMON_SKIP | SKIP[label]
    return [f for f in _model(label)._meta.concrete_fields if f.name not in skip and not f.is_relation]


def _encode(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, models.fields.files.FieldFile):
        return value.name or ""
    return value


def _values(obj, label: str) -> dict:
    return {f.name: _encode(f.value_from_object(obj)) for f in _plain_fields(label)}


def _group_key(group) -> str:
    names = []
    while group is not None:
        names.append(group.name)
        group = group.parent
    return "/".join(reversed(names))


def _vector_sha(vector: bytes) -> str:
    return hashlib.sha256(bytes(vector)).hexdigest()


def _file_entry(fieldfile, with_images: bool) -> dict | None:
    if not fieldfile:
        return None
    entry = {"name": fieldfile.name}
    if with_images:
        try:
            with fieldfile.open("rb") as handle:
                entry["data"] = base64.b64encode(handle.read()).decode()
        except FileNotFoundError:
            entry["missing"] = True
    return entry


def export_config(*, with_images: bool = False) -> dict:
    """The configuration as a JSON-ready dict; ``with_images`` embeds face images (base64)."""
    StreamGroup = _model("streams.StreamGroup")  # noqa: N806
    VideoStream = _model("streams.VideoStream")  # noqa: N806
    Algorithm = _model("algorithms.Algorithm")  # noqa: N806
    MonitorTask = _model("streams.MonitorTask")  # noqa: N806
    FaceLibrary = _model("faces.FaceLibrary")  # noqa: N806

    groups = list(StreamGroup.objects.select_related("parent").prefetch_related("members"))
    # Parents before children, so an import can create them in order.
    groups.sort(key=lambda g: (_group_key(g).count("/"), g.pk))
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "with_images": with_images,
        "stream_groups": [
            {"ref": g.pk, "parent": g.parent_id, **_values(g, "streams.StreamGroup"),
             "members": sorted(u.get_username() for u in g.members.all())}
            for g in groups
        ],
        "streams": [
            {"ref": s.pk, **_values(s, "streams.VideoStream"), "groups": sorted(g.pk for g in s.groups.all())}
            for s in VideoStream.objects.prefetch_related("groups")
        ],
        "algorithms": [{"ref": a.pk, **_values(a, "algorithms.Algorithm")} for a in Algorithm.objects.all()],
        "tasks": [
            {"ref": t.pk, "stream": t.stream_id, "algorithm": t.algorithm_id,
             "created_by": t.created_by.get_username() if t.created_by else None,
             "was_running": t.desired_running, **_values(t, "streams.MonitorTask")}
            for t in MonitorTask.objects.select_related("created_by")
        ],
        "face_libraries": [
            {**_values(lib, "faces.FaceLibrary"),
             "faces": [
                 {**_values(face, "faces.Face"), "vector": base64.b64encode(bytes(face.vector)).decode(),
                  "image": _file_entry(face.image, with_images), "crop": _file_entry(face.crop, with_images)}
                 for face in lib.faces.all()
             ]}
            for lib in FaceLibrary.objects.prefetch_related("faces")
        ],
    }


# --- Import ------------------------------------------------------------------------------------------

@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def count(self, kind: str, created: bool) -> None:
        target = self.created if created else self.updated
        target[kind] = target.get(kind, 0) + 1

    def summary(self) -> str:
        kinds = ("stream_groups", "streams", "algorithms", "tasks", "face_libraries", "faces")
        return ", ".join(f"{k}: {self.created.get(k, 0)} created, {self.updated.get(k, 0)} updated" for k in kinds)


class _DryRun(Exception):
    pass


def _decode(label: str, data: dict, where: str, report: ImportReport) -> dict:
    fields = {f.name: f for f in _plain_fields(label)}
    known = set(fields) | {"ref", "parent", "members", "groups", "stream", "algorithm", "created_by",
                           "was_running", "faces", "vector", "image", "crop"}
    unknown = sorted(set(data) - known - _COMMON_SKIP - SKIP[label])
    if unknown:
        report.warnings.append(f"{where}: ignored unknown field(s) {', '.join(unknown)}")
    values = {}
    for name, model_field in fields.items():
        if name not in data:
            continue
        raw = data[name]
        try:
            if isinstance(model_field, models.BinaryField):
                values[name] = base64.b64decode(raw) if raw is not None else None
            elif isinstance(model_field, models.JSONField):
                values[name] = raw
            else:
                values[name] = model_field.to_python(raw)
        except (ValidationError, ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: field {name!r}: {_message(exc)}") from exc
    return values


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def _save(obj, where: str, exclude: list[str] | None = None) -> None:
    try:
        obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.message_dict.items())
        raise ConfigError(f"{where}: {errors}") from exc
    obj.save()


def _require_list(document: dict, key: str) -> list:
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"{key!r} must be a list of objects")
    return value


def validate_document(document) -> None:
    if not isinstance(document, dict):
        raise ConfigError("the document must be a JSON object")
    if document.get("format") != FORMAT:
        raise ConfigError(f"not an AIMonitor configuration (format must be {FORMAT!r})")
    if not isinstance(document.get("version"), int) or document["version"] > VERSION:
        raise ConfigError(f"unsupported version {document.get('version')!r} (this platform reads up to {VERSION})")
    for key in ("stream_groups", "streams", "algorithms", "tasks", "face_libraries"):
        _require_list(document, key)


def import_config(document: dict, *, dry_run: bool = False) -> ImportReport:
    """Applies ``document`` in one transaction; raises :class:`ConfigError` (nothing written) when any
    part is invalid. A dry run checks everything and rolls back."""
    validate_document(document)
    report = ImportReport()
    written_files: list[str] = []
    try:
        with transaction.atomic():
            _import(document, report, written_files, dry_run)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except BaseException:
        for name in written_files:
            default_storage.delete(name)
        raise
    return report


def _import(document: dict, report: ImportReport, written_files: list[str], dry_run: bool) -> None:
    from django.contrib.auth import get_user_model

    StreamGroup = _model("streams.StreamGroup")  # noqa: N806
    VideoStream = _model("streams.VideoStream")  # noqa: N806
    Algorithm = _model("algorithms.Algorithm")  # noqa: N806
    MonitorTask = _model("streams.MonitorTask")  # noqa: N806
    FaceLibrary = _model("faces.FaceLibrary")  # noqa: N806
    Face = _model("faces.Face")  # noqa: N806
    users = {u.get_username(): u for u in get_user_model().objects.all()}

    groups: dict = {}
    for index, data in enumerate(_require_list(document, "stream_groups")):
        where = f"stream_groups[{index}]"
        values = _decode("streams.StreamGroup", data, where, report)
        if not values.get("name"):
            raise ConfigError(f"{where}: a group needs a name")
        parent = None
        if data.get("parent") is not None:
            if data["parent"] not in groups:
                raise ConfigError(f"{where}: parent {data['parent']!r} is not an earlier group of the document")
            parent = groups[data["parent"]]
        group = StreamGroup.objects.filter(name=values["name"], parent=parent).first()
        created = group is None
        group = group or StreamGroup(parent=parent)
        for key, value in values.items():
            setattr(group, key, value)
        _save(group, where)
        members = [users[name] for name in data.get("members", []) if name in users]
        missing = sorted(set(data.get("members", [])) - set(users))
        if missing:
            report.warnings.append(f"{where}: unknown member(s) skipped: {', '.join(missing)}")
        group.members.add(*members)
        groups[data.get("ref")] = group
        report.count("stream_groups", created)

    streams: dict = {}
    for index, data in enumerate(_require_list(document, "streams")):
        where = f"streams[{index}]"
        values = _decode("streams.VideoStream", data, where, report)
        if not values.get("name") or not values.get("url"):
            raise ConfigError(f"{where}: a stream needs a name and a url")
        stream = VideoStream.objects.filter(name=values["name"], url=values["url"]).first()
        created = stream is None
        stream = stream or VideoStream()
        for key, value in values.items():
            setattr(stream, key, value)
        _save(stream, where)
        for ref in data.get("groups", []):
            if ref not in groups:
                raise ConfigError(f"{where}: group {ref!r} is not in the document")
            stream.groups.add(groups[ref])
        streams[data.get("ref")] = stream
        report.count("streams", created)

    algorithms: dict = {}
    models_dir = Path(settings.MODELS_DIR)
    for index, data in enumerate(_require_list(document, "algorithms")):
        where = f"algorithms[{index}]"
        values = _decode("algorithms.Algorithm", data, where, report)
        if not values.get("name"):
            raise ConfigError(f"{where}: an algorithm needs a name")
        version = values.get("version") or "1.0"
        algorithm = Algorithm.objects.filter(name=values["name"], version=version).first()
        created = algorithm is None
        algorithm = algorithm or Algorithm()
        for key, value in values.items():
            setattr(algorithm, key, value)
        _save(algorithm, where)
        weights = values.get("weights")
        if weights and not (models_dir / weights).is_file() and not Path(weights).is_file():
            report.warnings.append(f"{where}: weights file {weights!r} is not under MODELS_DIR: restore it "
                                   f"before starting {algorithm}")
        algorithms[data.get("ref")] = algorithm
        report.count("algorithms", created)

    for index, data in enumerate(_require_list(document, "tasks")):
        where = f"tasks[{index}]"
        values = _decode("streams.MonitorTask", data, where, report)
        stream, algorithm = streams.get(data.get("stream")), algorithms.get(data.get("algorithm"))
        if stream is None or algorithm is None:
            raise ConfigError(f"{where}: its stream and algorithm must be in the document")
        if not values.get("name"):
            raise ConfigError(f"{where}: a task needs a name")
        task = MonitorTask.objects.filter(name=values["name"], stream=stream).first()
        created = task is None
        if task is not None and task.desired_running:
            raise ConfigError(f"{where}: task {task.name!r} is running here; stop it before importing over it")
        task = task or MonitorTask(stream=stream)
        for key, value in values.items():
            setattr(task, key, value)
        task.algorithm = algorithm
        if created:
            task.created_by = users.get(data.get("created_by"))
        _save(task, where, exclude=["status"])
        report.count("tasks", created)

    for index, data in enumerate(_require_list(document, "face_libraries")):
        where = f"face_libraries[{index}]"
        values = _decode("faces.FaceLibrary", data, where, report)
        if not values.get("name"):
            raise ConfigError(f"{where}: a library needs a name")
        library = FaceLibrary.objects.filter(name=values["name"]).first()
        created = library is None
        library = library or FaceLibrary()
        for key, value in values.items():
            setattr(library, key, value)
        _save(library, where)
        report.count("face_libraries", created)
        faces = data.get("faces", [])
        if not isinstance(faces, list):
            raise ConfigError(f"{where}.faces must be a list")
        known = {_vector_sha(f.vector): f for f in library.faces.all()}
        for face_index, face_data in enumerate(faces):
            _import_face(Face, library, known, face_data, f"{where}.faces[{face_index}]", report, written_files,
                         dry_run)


def _import_face(Face, library, known, data, where, report, written_files, dry_run) -> None:  # noqa: N803
    values = _decode("faces.Face", data, where, report)
    try:
        vector = base64.b64decode(data.get("vector") or "", validate=True)
    except ValueError as exc:
        raise ConfigError(f"{where}: vector is not base64") from exc
    if not vector or len(vector) % 4:
        raise ConfigError(f"{where}: vector must be float32 bytes")
    if not values.get("person_id"):
        raise ConfigError(f"{where}: a face needs a person_id")
    sha = _vector_sha(vector)
    face = known.get(sha)
    created = face is None
    face = face or Face(library=library)
    for key, value in values.items():
        setattr(face, key, value)
    face.vector = vector
    for name in ("image", "crop"):
        entry = data.get(name)
        if not entry:
            continue
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ConfigError(f"{where}: {name} must be an object with a name")
        if entry.get("data"):
            try:
                content = base64.b64decode(entry["data"], validate=True)
            except ValueError as exc:
                raise ConfigError(f"{where}: {name} data is not base64") from exc
            if dry_run:
                continue
            getattr(face, name).save(Path(entry["name"]).name, ContentFile(content), save=False)
            written_files.append(getattr(face, name).name)
        else:
            # Without images the document only names the file: restore MEDIA_ROOT from its own backup.
            getattr(face, name).name = entry["name"]
            if not default_storage.exists(entry["name"]):
                report.warnings.append(f"{where}: {name} file {entry['name']!r} is not in the media folder")
    if not face.image.name and not dry_run:
        report.warnings.append(f"{where}: no image (the feature vector alone is kept for matching)")
    _save(face, where, exclude=["image", "crop", "vector"])
    known[sha] = face
    report.count("faces", created)
