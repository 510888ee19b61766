"""manage.py config_export / config_import: a full round trip, idempotence, and refusals that write nothing."""
from __future__ import annotations

import base64
import io
import json
import os
import stat

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from tests.media import astronaut_image, jpeg_bytes

pytestmark = pytest.mark.django_db

CAMERA_URL = "rtsp://admin:Cam3ra!@192.0.2.20:554/Streaming/Channels/101"


@pytest.fixture
def configured(settings, make_user):
    """A site: a group tree, two streams, an algorithm with its weights file, two tasks (one running),
    and a face library with two faces (image, crop, feature vector)."""
    from algorithms.models import Algorithm
    from faces.models import Face, FaceLibrary
    from streams.models import MonitorTask, StreamGroup, VideoStream

    owner = make_user("operator", "owner")
    hq = StreamGroup.objects.create(name="HQ", address="1 Main St", contact_name="Ann")
    lobby = StreamGroup.objects.create(name="Lobby", parent=hq)
    lobby.members.add(owner)
    gate = VideoStream.objects.create(name="gate", url=CAMERA_URL, type="rtsp", location="north", status="online",
                                      fps=25.0, width=1920, height=1080)
    gate.groups.add(hq, lobby)
    door = VideoStream.objects.create(name="door", url="/srv/videos/door.mp4", type="file", enabled=False)
    weights = settings.MODELS_DIR / "people" / "best.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights")
    people = Algorithm.objects.create(name="people", version="2.1", weights="people/best.pt",
                                      weights_sha256="ab" * 32, weights_size=7, class_names=["Normal", "Fall"],
                                      config={"confidence_threshold": 0.4, "input_size": 640}, status="running")
    MonitorTask.objects.create(name="gate watch", stream=gate, algorithm=people, created_by=owner,
                               config={"target_classes": ["Normal"], "alert_threshold": 0.6},
                               status="running", desired_running=True, frames_processed=1234, worker="w1")
    MonitorTask.objects.create(name="door watch", stream=door, algorithm=people, schedule_type="scheduled",
                               schedule_config={"windows": [{"days": [0, 1], "start": "08:00", "end": "18:00"}]})
    staff = FaceLibrary.objects.create(name="staff", description="employees", is_watchlist=False)
    rng = np.random.default_rng(7)
    for person in ("p-1", "p-2"):
        vector = rng.standard_normal(128).astype("<f4")
        vector /= np.linalg.norm(vector)
        face = Face(library=staff, name=f"Person {person}", person_id=person, vector=vector.tobytes(),
                    quality=0.9, metadata={"source": "upload"})
        face.image.save(f"{person}.jpg", ContentFile(jpeg_bytes(astronaut_image())), save=False)
        face.crop.save(f"{person}-crop.jpg", ContentFile(jpeg_bytes(astronaut_image()[100:250, 150:300])),
                       save=False)
        face.save()
    return {"owner": owner}


def export(*args) -> dict:
    out = io.StringIO()
    call_command("config_export", *args, stdout=out)
    return json.loads(out.getvalue())


def normalized(doc: dict) -> dict:
    """The document with database ids replaced by natural keys, for comparing two sites."""
    groups = {g["ref"]: g["name"] for g in doc["stream_groups"]}
    streams = {s["ref"]: s["name"] for s in doc["streams"]}
    algorithms = {a["ref"]: (a["name"], a["version"]) for a in doc["algorithms"]}

    def strip(item, **renames):
        item = {k: v for k, v in item.items() if k != "ref"}
        for key, mapping in renames.items():
            value = item[key]
            item[key] = sorted(mapping[v] for v in value) if isinstance(value, list) else mapping.get(value)
        return item

    return {
        "stream_groups": [strip(g, parent=groups) for g in doc["stream_groups"]],
        "streams": [strip(s, groups=groups) for s in doc["streams"]],
        "algorithms": [strip(a) for a in doc["algorithms"]],
        "tasks": [strip({**t, "was_running": None}, stream=streams, algorithm=algorithms) for t in doc["tasks"]],
        "face_libraries": doc["face_libraries"],
    }


def wipe() -> None:
    from algorithms.models import Algorithm
    from faces.models import FaceLibrary
    from streams.models import MonitorTask, StreamGroup, VideoStream

    MonitorTask.objects.all().delete()
    VideoStream.objects.all().delete()
    StreamGroup.objects.all().delete()
    Algorithm.objects.all().delete()
    FaceLibrary.objects.all().delete()


def counts() -> dict:
    from algorithms.models import Algorithm
    from faces.models import Face, FaceLibrary
    from streams.models import MonitorTask, StreamGroup, VideoStream

    return {m.__name__: m.objects.count() for m in (StreamGroup, VideoStream, Algorithm, MonitorTask, FaceLibrary,
                                                    Face)}


def test_export_holds_configuration_not_runtime_state(configured):
    doc = export()
    assert doc["format"] == "aimonitor-config" and doc["version"] == 1
    gate = next(s for s in doc["streams"] if s["name"] == "gate")
    assert gate["url"] == CAMERA_URL
    assert "status" not in gate and "fps" not in gate
    task = next(t for t in doc["tasks"] if t["name"] == "gate watch")
    assert task["was_running"] is True and task["created_by"] == "owner"
    assert "frames_processed" not in task and "worker" not in task and "status" not in task
    assert [g["name"] for g in doc["stream_groups"]] == ["HQ", "Lobby"]
    assert doc["stream_groups"][1]["members"] == ["owner"]
    faces = doc["face_libraries"][0]["faces"]
    assert len(faces) == 2 and "data" not in faces[0]["image"]
    assert len(base64.b64decode(faces[0]["vector"])) == 128 * 4


def test_round_trip_with_images_restores_the_same_configuration(configured, settings, tmp_path):
    """GIVEN a site exported with images WHEN everything is deleted (media too) and the file imported
    THEN a new export equals the first one, images included, and every task is stopped."""
    from faces.models import Face
    from streams.models import MonitorTask

    path = tmp_path / "backup.json"
    call_command("config_export", "--with-images", "--output", str(path), stderr=io.StringIO())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = json.loads(path.read_text())
    images_before = {f["person_id"]: f["image"]["data"] for f in before["face_libraries"][0]["faces"]}

    wipe()
    for file in (settings.MEDIA_ROOT / "faces").rglob("*.jpg"):
        file.unlink()
    assert counts() == {"StreamGroup": 0, "VideoStream": 0, "Algorithm": 0, "MonitorTask": 0, "FaceLibrary": 0,
                        "Face": 0}

    out = io.StringIO()
    call_command("config_import", str(path), stdout=out, stderr=io.StringIO())
    assert "streams: 2 created, 0 updated" in out.getvalue()
    assert "faces: 2 created, 0 updated" in out.getvalue()
    after = export("--with-images")
    assert normalized(after) == normalized(before)
    assert all(t.status == "stopped" and not t.desired_running for t in MonitorTask.objects.all())
    for face in Face.objects.all():
        with face.image.open("rb") as handle:
            assert base64.b64encode(handle.read()).decode() == images_before[face.person_id]


def test_importing_twice_updates_instead_of_duplicating(configured, tmp_path):
    from streams.models import MonitorTask

    MonitorTask.objects.update(desired_running=False, status="stopped")
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(export()))
    before = counts()
    out = io.StringIO()
    call_command("config_import", str(path), stdout=out)
    assert counts() == before
    assert "streams: 0 created, 2 updated" in out.getvalue()
    assert "faces: 0 created, 2 updated" in out.getvalue()


def test_import_without_images_keeps_the_file_names_and_vectors(configured, tmp_path):
    from faces.models import Face

    doc = export()
    names = sorted(f.image.name for f in Face.objects.all())
    vectors = sorted(bytes(f.vector) for f in Face.objects.all())
    wipe()
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(doc))
    call_command("config_import", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert sorted(f.image.name for f in Face.objects.all()) == names
    assert sorted(bytes(f.vector) for f in Face.objects.all()) == vectors


def _import_refused(tmp_path, document, match: str):
    before = counts()
    path = tmp_path / "bad.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(CommandError, match=match):
        call_command("config_import", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert counts() == before


def test_import_refuses_a_file_that_is_not_json(configured, tmp_path):
    _import_refused(tmp_path, "{not json", "is not JSON")


def test_import_refuses_a_foreign_document(configured, tmp_path):
    _import_refused(tmp_path, {"format": "something-else", "version": 1}, "not an AIMonitor configuration")
    _import_refused(tmp_path, {"format": "aimonitor-config", "version": 99}, "unsupported version")


def test_import_refuses_an_invalid_value_and_writes_nothing(configured, tmp_path):
    """GIVEN an export whose last stream has an unknown type WHEN imported over an empty site
    THEN the import fails naming the stream, and the groups before it were rolled back too."""
    doc = export()
    wipe()
    doc["streams"][-1]["type"] = "carrier-pigeon"
    _import_refused(tmp_path, doc, r"streams\[1\]: type")
    assert counts()["StreamGroup"] == 0


def test_import_refuses_a_task_whose_stream_is_missing(configured, tmp_path):
    doc = export()
    wipe()
    doc["tasks"][0]["stream"] = 999999
    _import_refused(tmp_path, doc, r"tasks\[0\]: its stream and algorithm must be in the document")


def test_import_refuses_to_overwrite_a_running_task(configured, tmp_path):
    _import_refused(tmp_path, export(), "is running here; stop it")


def test_import_refuses_a_bad_face_vector(configured, tmp_path):
    from streams.models import MonitorTask

    MonitorTask.objects.update(desired_running=False)
    doc = export()
    doc["face_libraries"][0]["faces"][0]["vector"] = base64.b64encode(b"abc").decode()
    _import_refused(tmp_path, doc, "vector must be float32 bytes")


def test_dry_run_reports_and_writes_nothing(configured, tmp_path):
    doc = export("--with-images")
    wipe()
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(doc))
    out = io.StringIO()
    call_command("config_import", str(path), "--dry-run", stdout=out, stderr=io.StringIO())
    assert "dry run, nothing written" in out.getvalue()
    assert "streams: 2 created" in out.getvalue()
    assert sum(counts().values()) == 0


def test_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match="no such file"):
        call_command("config_import", "/nonexistent/backup.json")
