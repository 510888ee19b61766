"""Face-recognition monitoring tasks end to end: the astronaut enrolled in a watchlist, a real H.264
clip of that face (rescaled and shifted) between frames of bus.jpg and zidane.jpg (strangers), the
real worker loop with YuNet + SFace and the FAISS index, and real alert rows with their images.
Also the config validation of the face keys, the seeded algorithm, and the face rules on their own."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from streams import tasks_services
from streams.face_rules import KNOWN_PERSON, STRANGER, FaceDetection, FaceRuleEngine
from streams.models import MonitorTask
from streams.rules import ConfigError, normalise_config
from tests import media
from tests.monitoring.factories import make_algorithm, make_stream
from tests.monitoring.test_worker import retrying, run_in_thread, wait_for

LIST = reverse("streams:monitor-task-list")


def on_canvas(image, size: int, x: int, y: int) -> np.ndarray:
    """``image`` resized to ``size`` x ``size`` at (x, y) on a grey 640x480 frame."""
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[y:y + size, x:x + size] = cv2.resize(image, (size, size))
    return canvas


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    """A 4-second 640x480 H.264 clip: the astronaut (large, centred), bus.jpg, the astronaut (smaller,
    shifted left and down), zidane.jpg; one second each."""
    astronaut = media.astronaut_image()
    frames = [on_canvas(astronaut, 448, 96, 16), media.bus_image(), on_canvas(astronaut, 360, 0, 100),
              media.zidane_image()]
    return media.make_clip(tmp_path_factory.mktemp("faces") / "faces.mp4", frames, fps=10, seconds_per_frame=1.0)


def face_algorithm():
    from faces.seed import ensure_face_algorithm

    return ensure_face_algorithm()


def enroll_astronaut(library):
    from faces import services
    from faces.index import get_index

    face = services.enroll(library=library, name="Eileen Collins", person_id="astro-1",
                           image_bytes=media.jpeg_bytes(media.astronaut_image()))
    # The tests flush the database between them; make this process's index read it again.
    get_index().invalidate()
    return face


def make_face_task(stream, config):
    algorithm = face_algorithm()
    return MonitorTask.objects.create(
        name="Entrance faces", stream=stream, algorithm=algorithm,
        config=normalise_config(config, kind=algorithm.kind), desired_running=True, status="starting")


def run_until(task, *, frames: int, timeout: float = 60):
    """Runs the real loop for ``task`` until it has processed ``frames`` sampled frames, then stops it."""
    thread, outcome = run_in_thread(task.pk)
    try:
        done = wait_for(lambda: MonitorTask.objects.get(pk=task.pk).frames_processed >= frames, timeout=timeout)
        row = MonitorTask.objects.get(pk=task.pk)
        assert done, (f"{row.frames_processed} < {frames} frames in {timeout} s: status {row.status}, "
                      f"error {row.error!r}, outcome {outcome}, stream {row.stream.status}")
    finally:
        retrying(lambda: tasks_services.stop_task(MonitorTask.objects.get(pk=task.pk)))
        thread.join(timeout=15)
    assert not thread.is_alive() and outcome["result"] == "stopped"


def stored_image(name: str) -> np.ndarray:
    with default_storage.open(name) as handle:
        return cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)


# --- The real loop -----------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_an_enrolled_face_raises_one_known_person_alert_and_no_stranger_alerts(face_clip, settings):
    from alerts.models import Alert
    from faces.models import FaceLibrary

    settings.MONITOR_HEARTBEAT_SECONDS = 0.5
    watchlist = FaceLibrary.objects.create(name="watchlist", is_watchlist=True)
    FaceLibrary.objects.create(name="staff")
    face = enroll_astronaut(watchlist)
    stream = make_stream("Entrance", url=str(face_clip), type="file")
    # Default libraries (every watchlist), default threshold, no strangers; the clip loops, so the
    # astronaut comes back several times within the cooldown.
    task = make_face_task(stream, {"cooldown_seconds": 3600, "sample_fps": 4})
    run_until(task, frames=24)

    alerts = list(Alert.objects.filter(task=task))
    assert [a.type for a in alerts] == [KNOWN_PERSON]
    alert = alerts[0]
    assert (alert.stream_id, alert.algorithm_id) == (stream.pk, task.algorithm_id)
    [match] = alert.metadata["face_matches"]
    assert (match["face_id"], match["person_id"], match["name"], match["library_id"]) == (
        face.pk, "astro-1", "Eileen Collins", watchlist.pk)
    assert match["similarity"] > settings.FACES_MATCH_THRESHOLD
    [detection] = alert.metadata["detections"]
    assert detection["class"] == "Eileen Collins" and detection["confidence"] == pytest.approx(match["similarity"])
    # The face box lies where the astronaut's face is in either astronaut frame.
    x1, y1, x2, y2 = detection["bbox"]
    assert 0 <= x1 < x2 <= 544 and 16 <= y1 < y2 <= 460 and 50 <= x2 - x1 <= 120
    crop = stored_image(alert.extra_images["face_crop"])
    assert crop.shape == (112, 112, 3)
    snapshot = stored_image(alert.snapshot.name)
    assert snapshot.shape == (480, 640, 3)
    # The loop counted its frames and cleaned up.
    task.refresh_from_db()
    assert (task.status, task.claim_token) == ("stopped", "")
    assert alert.metadata["rule_keys"] == ["known_person|person:astro-1"]


@pytest.mark.django_db(transaction=True)
def test_strangers_raise_alerts_only_when_asked_and_only_once_per_cooldown(face_clip, settings):
    from alerts.models import Alert
    from faces.models import FaceLibrary

    settings.MONITOR_HEARTBEAT_SECONDS = 0.5
    watchlist = FaceLibrary.objects.create(name="watchlist", is_watchlist=True)
    enroll_astronaut(watchlist)
    stream = make_stream("Entrance", url=str(face_clip), type="file")
    task = make_face_task(stream, {"cooldown_seconds": 3600, "sample_fps": 4, "alert_strangers": True,
                                   "face_libraries": [watchlist.pk], "level": "critical"})
    run_until(task, frames=24)

    alerts = list(Alert.objects.filter(task=task).order_by("id"))
    assert sorted(a.type for a in alerts) == [KNOWN_PERSON, STRANGER]
    assert {a.level for a in alerts} == {"critical"}
    stranger = next(a for a in alerts if a.type == STRANGER)
    assert stranger.metadata["face_matches"] and all(
        "face_id" not in m for m in stranger.metadata["face_matches"])
    assert {d["class"] for d in stranger.metadata["detections"]} == {"stranger"}
    assert stored_image(stranger.extra_images["face_crop"]).shape == (112, 112, 3)


@pytest.mark.django_db(transaction=True)
def test_a_face_outside_the_region_of_interest_raises_nothing(face_clip, settings):
    from alerts.models import Alert
    from faces.models import FaceLibrary

    settings.MONITOR_HEARTBEAT_SECONDS = 0.5
    watchlist = FaceLibrary.objects.create(name="watchlist", is_watchlist=True)
    enroll_astronaut(watchlist)
    stream = make_stream("Entrance", url=str(face_clip), type="file")
    # The bottom strip of the frame: no face's centre is there.
    task = make_face_task(stream, {"sample_fps": 4, "alert_strangers": True,
                                   "region_of_interest": [[0, 0.9], [1, 0.9], [1, 1], [0, 1]]})
    run_until(task, frames=10)
    assert not Alert.objects.filter(task=task).exists()


# --- Config validation -------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize(("config", "field"), [
    ({"face_libraries": [999999]}, "config.face_libraries"),
    ({"face_libraries": []}, "config.face_libraries"),
    ({"face_libraries": "watchlist"}, "config.face_libraries"),
    ({"face_libraries": [True]}, "config.face_libraries"),
    ({"face_threshold": 1.5}, "config.face_threshold"),
    ({"face_threshold": 0}, "config.face_threshold"),
    ({"face_threshold": "high"}, "config.face_threshold"),
    ({"alert_strangers": "yes"}, "config.alert_strangers"),
    ({"max_faces": 0}, "config.max_faces"),
    ({"cooldown_seconds": -1}, "config.cooldown_seconds"),
    ({"face_whatever": 1}, "config"),
])
def test_bad_face_config_is_refused_and_nothing_is_written(admin_client, config, field):
    stream = make_stream()
    response = admin_client.post(LIST, {"name": "Faces", "stream": stream.pk, "algorithm": face_algorithm().pk,
                                        "config": config}, content_type="application/json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid" and field in body["errors"], body
    assert not MonitorTask.objects.exists()


@pytest.mark.django_db
def test_face_keys_are_refused_for_a_detection_algorithm(admin_client):
    response = admin_client.post(LIST, {"name": "Door", "stream": make_stream().pk, "algorithm": make_algorithm().pk,
                                        "config": {"alert_strangers": True}}, content_type="application/json")
    assert response.status_code == 400
    assert "Unknown keys: alert_strangers" in response.json()["errors"]["config"][0]
    assert not MonitorTask.objects.exists()


@pytest.mark.django_db
def test_a_face_task_is_created_with_normalised_face_config(admin_client):
    from faces.models import FaceLibrary

    library = FaceLibrary.objects.create(name="vip", is_watchlist=True)
    response = admin_client.post(LIST, {
        "name": "Faces", "stream": make_stream().pk, "algorithm": face_algorithm().pk,
        "config": {"face_libraries": [library.pk, library.pk], "face_threshold": 0.5, "alert_strangers": True},
    }, content_type="application/json")
    assert response.status_code == 201, response.content
    config = response.json()["config"]
    assert (config["face_libraries"], config["face_threshold"], config["alert_strangers"], config["max_faces"]) == (
        [library.pk], 0.5, True, 10)
    # A partial update keeps the face keys and checks the new ones.
    task = MonitorTask.objects.get()
    url = reverse("streams:monitor-task-detail", kwargs={"pk": task.pk})
    response = admin_client.patch(url, {"config": {"face_threshold": 2}}, content_type="application/json")
    assert response.status_code == 400 and "config.face_threshold" in response.json()["errors"]
    task.refresh_from_db()
    assert task.config["face_threshold"] == 0.5


def test_face_defaults_need_no_library_ids():
    config = normalise_config({}, kind="face_recognition")
    assert (config["face_libraries"], config["face_threshold"], config["alert_strangers"]) == (None, None, False)
    with pytest.raises(ConfigError):
        normalise_config({"face_threshold": 0.4})


# --- The seeded algorithm ----------------------------------------------------------------------

@pytest.mark.django_db
def test_seed_registers_one_face_recognition_algorithm_without_weights():
    from io import StringIO

    from algorithms.models import Algorithm
    from faces import seed

    seed.run(StringIO())
    seed.run(StringIO())
    [algorithm] = Algorithm.objects.filter(kind="face_recognition")
    assert (algorithm.name, algorithm.framework, algorithm.weights) == (seed.FACE_ALGORITHM_NAME, "opencv", "")


# --- The face rules on their own (no model: FaceMatch rows as recognise returns them) ---------

def face(x: float, person: str | None, *, watchlist: bool = True, similarity: float = 0.8):
    from faces.services import FaceMatch

    best = None if person is None else {"face_id": hash(person) % 1000, "name": person.title(), "person_id": person,
                                        "library_id": 1, "similarity": similarity}
    return FaceDetection(FaceMatch(bbox=[x, 100.0, x + 60, 170.0], score=0.9, crop=np.zeros((112, 112, 3), np.uint8),
                                   best=best, is_watchlist=watchlist and best is not None))


def rules_for(**config):
    return FaceRuleEngine(normalise_config(config, kind="face_recognition"))


def test_cooldown_is_per_person_and_strangers_share_one():
    rules = rules_for(cooldown_seconds=60, alert_strangers=True)
    _, decision = rules.evaluate([face(10, "ann"), face(200, None), face(400, None)], 640, 480, 0)
    specs = decision.alerts()
    assert sorted(s.alert_type for s in specs) == [KNOWN_PERSON, STRANGER]
    assert len(next(s for s in specs if s.alert_type == STRANGER).metadata["face_matches"]) == 2
    # Ann again within the cooldown: nothing; Bob is new: his own alert.
    _, decision = rules.evaluate([face(10, "ann"), face(300, "bob"), face(400, None)], 640, 480, 30)
    [spec] = decision.alerts()
    assert spec.keys == ["known_person|person:bob"] and spec.metadata["face_matches"][0]["person_id"] == "bob"
    _, decision = rules.evaluate([face(10, "ann")], 640, 480, 61)
    assert [s.keys for s in decision.alerts()] == [["known_person|person:ann"]]


def test_non_watchlist_matches_are_neither_known_person_alerts_nor_strangers():
    rules = rules_for(alert_strangers=True)
    matches, decision = rules.evaluate([face(10, "staffer", watchlist=False)], 640, 480, 0)
    assert len(matches) == 1 and decision is None


def test_dwell_needs_consecutive_frames_and_region_uses_the_face_centre():
    rules = rules_for(min_consecutive_frames=2, region_of_interest=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]])
    assert rules.evaluate([face(10, "ann"), face(500, "bob")], 640, 480, 0)[1] is None
    _, decision = rules.evaluate([face(10, "ann"), face(500, "bob")], 640, 480, 1)
    [spec] = decision.alerts()
    assert spec.keys == ["known_person|person:ann"] and spec.detections[0]["zone"] == "roi"


def test_the_face_crop_of_the_largest_face_goes_with_the_alert():
    from faces.services import FaceMatch

    small = face(10, None)
    big = FaceDetection(FaceMatch(bbox=[200.0, 100.0, 320.0, 230.0], score=0.9,
                                  crop=np.full((112, 112, 3), 255, np.uint8), best=None, is_watchlist=False))
    _, decision = rules_for(alert_strangers=True).evaluate([small, big], 640, 480, 0)
    [spec] = decision.alerts()
    assert spec.extra_images["face_crop"].mean() == 255



@pytest.mark.django_db
def test_a_restarted_face_loop_keeps_the_cooldown_of_alerts_already_raised():
    from alerts.services import raise_alert
    from faces.models import FaceLibrary
    from streams import worker

    FaceLibrary.objects.create(name="watchlist", is_watchlist=True)
    task = make_face_task(make_stream(), {"cooldown_seconds": 600})
    raise_alert(alert_type=KNOWN_PERSON, level="warning", detections=[], frame=np.zeros((48, 64, 3), np.uint8),
                task=task, metadata={"rule_keys": ["known_person|person:ann"]})
    predictor, rules = worker.pipeline_for(MonitorTask.objects.select_related("algorithm").get(pk=task.pk))
    assert predictor.libraries() == list(FaceLibrary.objects.filter(is_watchlist=True).values_list("pk", flat=True))
    _, decision = rules.evaluate([face(10, "ann"), face(300, "bob")], 640, 480, time.time())
    assert [s.keys for s in decision.alerts()] == [["known_person|person:bob"]]


@pytest.mark.django_db
def test_moving_a_face_task_to_a_detection_algorithm_drops_the_face_keys(admin_client):
    task = make_face_task(make_stream(), {"alert_strangers": True})
    detector = make_algorithm()
    url = reverse("streams:monitor-task-detail", kwargs={"pk": task.pk})
    response = admin_client.patch(url, {"algorithm": detector.pk, "config": {"cooldown_seconds": 5}},
                                  content_type="application/json")
    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert task.algorithm_id == detector.pk and "alert_strangers" not in task.config
    assert task.config["cooldown_seconds"] == 5


@pytest.mark.django_db
def test_moving_a_task_without_sending_its_config_rechecks_the_rules(admin_client):
    task = make_face_task(make_stream(), {"alert_strangers": True, "cooldown_seconds": 7})
    url = reverse("streams:monitor-task-detail", kwargs={"pk": task.pk})
    response = admin_client.patch(url, {"algorithm": make_algorithm().pk}, content_type="application/json")
    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert "alert_strangers" not in task.config and task.config["cooldown_seconds"] == 7
