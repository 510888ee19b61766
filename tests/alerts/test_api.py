"""The alerts API: list filters and pagination, detail, processing, batch processing, deletion, and
group visibility."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert
from alerts.services import raise_alert
from tests.conftest import client_for
from tests.media import bus_image, zidane_image

LIST = "/api/alerts/"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "detail", "errors"}
    return body


# --- List, filters, detail ----------------------------------------------------------------------

@pytest.fixture
def scene(make_alert, make_stream, algorithm, task, operator):
    """Six alerts over two streams, three levels and all statuses, at known times."""
    lobby = make_stream("Lobby")
    gate = task.stream
    return {
        "gate": gate, "lobby": lobby,
        "a": make_alert(stream=gate, task=task, algorithm=algorithm, level="critical", when=utc(2026, 11, 27, 15, 30)),
        "b": make_alert(stream=gate, task=task, algorithm=algorithm, level="warning", when=utc(2026, 11, 27, 16, 30),
                        status="processed", processed_by=operator, processed_at=timezone.now()),
        "c": make_alert(stream=lobby, level="info", type="face_recognition", when=utc(2026, 11, 28, 1, 0)),
        "d": make_alert(stream=lobby, level="warning", when=utc(2026, 11, 28, 9, 0), status="false_positive"),
        "e": make_alert(stream=None, level="critical", type="fall", when=utc(2026, 11, 26, 8, 0)),
        "f": make_alert(stream=gate, level="info", when=utc(2026, 11, 28, 23, 59)),
    }


def test_list_is_newest_first_with_related_names(viewer_client, scene):
    response = viewer_client.get(LIST)
    assert response.status_code == 200
    body = response.json()
    order = ["f", "d", "c", "b", "a", "e"]
    assert ids(response) == [scene[k].pk for k in order]
    assert body["count"] == 6 and body["count_is_estimate"] is False
    assert body["next"] is None and body["previous"] is None
    first_gate = body["results"][3]
    assert first_gate["stream"] == {"id": scene["gate"].pk, "name": "Gate camera"}
    assert first_gate["algorithm"]["name"] == "Person detector" and first_gate["task"]["name"] == "Gate watch"
    assert first_gate["processed_by"]["username"] == "operator" and first_gate["is_processed"] is True
    assert body["results"][-1]["stream"] is None


@pytest.mark.parametrize(("query", "expected"), [
    ({"level": "critical"}, ["a", "e"]),
    ({"level": "info,critical"}, ["f", "c", "a", "e"]),
    ({"type": "face_recognition"}, ["c"]),
    ({"status": "new"}, ["f", "c", "a", "e"]),
    ({"status": "processed,false_positive"}, ["d", "b"]),
    ({"is_processed": "true"}, ["d", "b"]),
    ({"is_processed": "false"}, ["f", "c", "a", "e"]),
    ({"start_date": "2026-11-28"}, ["f", "d", "c"]),
    ({"start_date": "2026-11-27", "end_date": "2026-11-27"}, ["b", "a"]),
    ({"start_date": "2026-11-27T16:00:00Z", "end_date": "2026-11-28T01:00:00Z"}, ["c", "b"]),
])
def test_list_filters(viewer_client, scene, query, expected):
    response = viewer_client.get(LIST, query)
    assert response.status_code == 200, response.content
    assert ids(response) == [scene[k].pk for k in expected]


def test_list_filters_by_stream_algorithm_and_task(viewer_client, scene, task, algorithm):
    assert ids(viewer_client.get(LIST, {"stream": scene["lobby"].pk})) == [scene["d"].pk, scene["c"].pk]
    assert ids(viewer_client.get(LIST, {"task": task.pk})) == [scene["b"].pk, scene["a"].pk]
    assert ids(viewer_client.get(LIST, {"algorithm": algorithm.pk, "level": "warning"})) == [scene["b"].pk]
    assert ids(viewer_client.get(LIST, {"stream": 999999})) == []


def test_date_filters_use_the_configured_time_zone(viewer_client, scene, settings):
    """GIVEN TIME_ZONE Asia/Shanghai (UTC+8) WHEN filtering on the local date 2026-11-28 THEN the day runs
    from 2026-11-27 16:00 UTC to 2026-11-28 16:00 UTC."""
    settings.TIME_ZONE = "Asia/Shanghai"
    response = viewer_client.get(LIST, {"start_date": "2026-11-28", "end_date": "2026-11-28"})
    assert ids(response) == [scene[k].pk for k in ("d", "c", "b")]


def test_ordering_parameter(viewer_client, scene):
    response = viewer_client.get(LIST, {"ordering": "level,id"})
    assert ids(response)[:2] == [scene["a"].pk, scene["e"].pk]


def test_since_id_returns_later_alerts_oldest_first(viewer_client, scene):
    """A client that saw alert b catches up with everything raised after it, in order of raising."""
    response = viewer_client.get(LIST, {"since_id": scene["b"].pk})
    assert ids(response) == [scene[k].pk for k in ("c", "d", "e", "f")]
    paged = viewer_client.get(LIST, {"since_id": scene["b"].pk, "page_size": 3})
    assert ids(paged) == [scene[k].pk for k in ("c", "d", "e")]
    assert "since_id=" in paged.json()["next"] and "page=2" in paged.json()["next"]
    assert ids(viewer_client.get(paged.json()["next"])) == [scene["f"].pk]


@pytest.mark.parametrize(("query", "field"), [
    ({"level": "urgent"}, "level"),
    ({"status": "done"}, "status"),
    ({"start_date": "yesterday"}, "start_date"),
    ({"end_date": "2026-13-45"}, "end_date"),
    ({"start_date": "2026-11-28", "end_date": "2026-11-01"}, "end_date"),
    ({"stream": "gate"}, "stream"),
    ({"since_id": "x"}, "since_id"),
    ({"is_processed": "maybe"}, "is_processed"),
])
def test_list_refuses_bad_filters(viewer_client, scene, query, field):
    body = assert_error(viewer_client.get(LIST, query), 400, "invalid")
    assert field in body["errors"]


def test_a_page_past_the_end_is_404(viewer_client, scene):
    assert_error(viewer_client.get(LIST, {"page": 5}), 404, "not_found")
    assert_error(viewer_client.get(LIST, {"page": "zero"}), 404, "not_found")


def test_detail_has_snapshot_url_and_images(viewer_client, stream, settings):
    alert = raise_alert(alert_type="face_recognition", level="info", detections=[], frame=zidane_image(),
                        stream=stream, extra_images={"face_crop": zidane_image()[0:50, 0:50]})
    response = viewer_client.get(f"{LIST}{alert.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["snapshot_url"] == f"/media/{alert.snapshot.name}"
    assert body["images"] == {"face_crop": f"/media/{alert.extra_images['face_crop']}"}
    assert_error(viewer_client.get(f"{LIST}999999"), 404, "not_found")


def test_list_query_count_does_not_grow_with_rows(make_alert, task, operator, viewer_client):
    """N+1 guard: the page costs the same queries for 2 rows as for 40."""
    def measure(n: int) -> int:
        Alert.objects.all().delete()
        for _ in range(n):
            make_alert(stream=task.stream, task=task, algorithm=task.algorithm, status="processed",
                       processed_by=operator, processed_at=timezone.now())
        with CaptureQueriesContext(connection) as queries:
            response = viewer_client.get(LIST, {"page_size": 50})
        assert response.status_code == 200 and len(response.json()["results"]) == n
        return len(queries)

    small, large = measure(2), measure(40)
    assert small == large
    # The user and their roles (JWT authentication), the group check, the page. No count: it fits.
    assert large == 4, large


def test_large_lists_count_at_most_the_limit_then_estimate(make_alert, viewer_client, settings):
    settings.ALERT_LIST_COUNT_LIMIT = 5
    for _ in range(12):
        make_alert()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE alerts_alert")
    response = viewer_client.get(LIST, {"page_size": 4})
    body = response.json()
    assert len(body["results"]) == 4 and body["next"]
    if connection.vendor == "postgresql":
        assert body["count_is_estimate"] is True and body["count"] >= 6
    else:
        assert (body["count"], body["count_is_estimate"]) == (12, False)
    last = viewer_client.get(LIST, {"page_size": 4, "page": 3}).json()
    # On the last page the total is known without counting.
    assert (last["count"], last["count_is_estimate"], last["next"]) == (12, False, None)
    assert "page=2" in last["previous"]


# --- Group visibility ---------------------------------------------------------------------------

@pytest.fixture
def two_groups(make_user, make_stream, make_alert):
    """A viewer assigned to group North sees North's camera only."""
    watcher = make_user("operator", "north-operator")
    north = make_stream("North door", group="North", members=[watcher])
    south = make_stream("South door", group="South")
    return {"user": watcher, "client": client_for(watcher),
            "mine": make_alert(stream=north, level="critical"), "theirs": make_alert(stream=south),
            "orphan": make_alert(stream=None)}


def test_group_members_see_only_their_groups_alerts(two_groups):
    client = two_groups["client"]
    assert ids(client.get(LIST)) == [two_groups["mine"].pk]
    assert client.get(f"{LIST}{two_groups['mine'].pk}").status_code == 200
    assert_error(client.get(f"{LIST}{two_groups['theirs'].pk}"), 404, "not_found")
    stats = client.get(f"{LIST}statistics").json()
    assert stats["total"] == 1 and stats["by_level"]["critical"] == 1
    csv_text = b"".join(client.get(f"{LIST}export").streaming_content).decode()
    assert len(csv_text.strip().splitlines()) == 2
    assert_error(client.patch(f"{LIST}{two_groups['theirs'].pk}/process", {"status": "processed"}), 404,
                 "not_found")


def test_batch_with_an_invisible_alert_changes_nothing(two_groups):
    body = assert_error(two_groups["client"].post(f"{LIST}batch-process", {
        "alert_ids": [two_groups["mine"].pk, two_groups["theirs"].pk], "status": "processed"}), 400, "unknown_ids")
    assert str(two_groups["theirs"].pk) in body["errors"]["alert_ids"][0]
    assert set(Alert.objects.values_list("status", flat=True)) == {"new"}


# --- Processing ---------------------------------------------------------------------------------

def test_operator_processes_an_alert(operator_client, operator, make_alert):
    alert = make_alert()
    response = operator_client.patch(f"{LIST}{alert.pk}/process", {"status": "false_positive", "notes": "a cat"})
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == alert.pk and body["status"] == "false_positive" and body["is_processed"] is True
    assert body["processed_by"] == {"id": operator.pk, "username": "operator"}
    assert body["notes"] == "a cat" and body["processed_at"]
    alert.refresh_from_db()
    assert (alert.status, alert.processed_by_id, alert.notes) == ("false_positive", operator.pk, "a cat")


def test_is_processed_flag_of_the_original_design(operator_client, make_alert):
    alert = make_alert()
    body = operator_client.patch(f"{LIST}{alert.pk}/process/", {"is_processed": True}).json()
    assert body["status"] == "processed" and body["notes"] == ""
    reopened = operator_client.patch(f"{LIST}{alert.pk}/process", {"is_processed": False, "notes": "again"}).json()
    assert reopened["status"] == "new" and reopened["processed_by"] is None and reopened["processed_at"] is None
    alert.refresh_from_db()
    assert (alert.status, alert.processed_by, alert.notes) == ("new", None, "again")


@pytest.mark.parametrize(("data", "field"), [
    ({}, "status"),
    ({"notes": "only notes"}, "status"),
    ({"status": "done"}, "status"),
    ({"is_processed": "perhaps"}, "is_processed"),
    ({"status": "new", "is_processed": True}, "is_processed"),
    ({"status": "processed", "notes": ["not", "text"]}, "notes"),
])
def test_process_refuses_bad_input_and_changes_nothing(operator_client, make_alert, data, field):
    alert = make_alert(notes="original")
    response = operator_client.patch(f"{LIST}{alert.pk}/process", data)
    assert response.status_code == 400 and field in response.json()["errors"], response.content
    alert.refresh_from_db()
    assert (alert.status, alert.notes, alert.processed_by) == ("new", "original", None)


def test_viewer_cannot_process_an_alert(viewer_client, make_alert):
    alert = make_alert()
    assert_error(viewer_client.patch(f"{LIST}{alert.pk}/process", {"status": "processed"}), 403,
                 "permission_denied")
    alert.refresh_from_db()
    assert alert.status == "new"


def test_batch_process_in_one_go(operator_client, operator, make_alert, django_capture_on_commit_callbacks):
    alerts = [make_alert() for _ in range(3)]
    untouched = make_alert()
    wanted = [alerts[2].pk, alerts[0].pk, alerts[1].pk, alerts[0].pk]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = operator_client.post(f"{LIST}batch-process", {"alert_ids": wanted, "status": "false_positive",
                                                                 "notes": "wind"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["processed_count"] == 3 and body["processed_ids"] == sorted(a.pk for a in alerts)
    assert body["processed_at"]
    assert len(callbacks) == 1
    rows = Alert.objects.filter(pk__in=body["processed_ids"])
    assert {(a.status, a.processed_by_id, a.notes) for a in rows} == {("false_positive", operator.pk, "wind")}
    untouched.refresh_from_db()
    assert untouched.status == "new"


@pytest.mark.parametrize(("data", "code"), [
    ({}, "required"),
    ({"alert_ids": []}, "empty"),
    ({"alert_ids": "1,2"}, "not_a_list"),
    ({"alert_ids": ["one"]}, "invalid"),
    ({"alert_ids": [0]}, "min_value"),
    ({"alert_ids": [1], "status": "archived"}, "invalid_choice"),
])
def test_batch_process_refuses_bad_input(operator_client, make_alert, data, code):
    make_alert()
    assert_error(operator_client.post(f"{LIST}batch-process", data), 400, code)
    assert Alert.objects.filter(status="new").count() == 1


def test_batch_process_reports_unknown_ids_and_changes_nothing(operator_client, make_alert):
    known = make_alert()
    body = assert_error(operator_client.post(f"{LIST}batch-process",
                                             {"alert_ids": [known.pk, 999998, 999999]}), 400, "unknown_ids")
    assert body["errors"]["alert_ids"] == ["Unknown alert ids: 999998, 999999."]
    known.refresh_from_db()
    assert known.status == "new"


def test_batch_process_caps_the_number_of_ids(operator_client, settings):
    settings.ALERT_BATCH_MAX_IDS = 3
    assert_error(operator_client.post(f"{LIST}batch-process", {"alert_ids": [1, 2, 3, 4]}), 400, "too_many")


# --- Deletion and retention ---------------------------------------------------------------------

def _files(settings) -> list[Path]:
    return [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_admin_deletes_an_alert_with_its_files(admin_client, viewer_client, stream, settings,
                                               django_capture_on_commit_callbacks):
    alert = raise_alert(alert_type="face_recognition", level="info", detections=[], frame=bus_image(),
                        stream=stream, extra_images={"face_crop": bus_image()[:64, :64]})
    keep = raise_alert(alert_type="fall", level="info", detections=[], frame=bus_image(), stream=stream)
    assert len(_files(settings)) == 3
    assert_error(viewer_client.delete(f"{LIST}{alert.pk}"), 403, "permission_denied")
    assert len(_files(settings)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.delete(f"{LIST}{alert.pk}").status_code == 204
    assert list(Alert.objects.values_list("pk", flat=True)) == [keep.pk]
    assert _files(settings) == [Path(settings.MEDIA_ROOT) / keep.snapshot.name]
    assert_error(admin_client.delete(f"{LIST}{alert.pk}"), 404, "not_found")


def test_purge_task_removes_old_alerts_and_their_files_in_batches(stream, settings):
    from alerts.tasks import purge_expired_alerts

    settings.ALERT_RETENTION_DAYS = 30
    settings.ALERT_PURGE_BATCH_SIZE = 2
    now = timezone.now()
    old = [raise_alert(alert_type="fall", level="info", detections=[], frame=bus_image()[:100, :100],
                       stream=stream, detection_time=now - timedelta(days=31 + i)) for i in range(5)]
    recent = raise_alert(alert_type="fall", level="info", detections=[], frame=bus_image()[:100, :100],
                         stream=stream, detection_time=now - timedelta(days=29))
    assert len(_files(settings)) == 6
    assert purge_expired_alerts.delay().get() == 5
    assert list(Alert.objects.values_list("pk", flat=True)) == [recent.pk]
    assert _files(settings) == [Path(settings.MEDIA_ROOT) / recent.snapshot.name]
    assert all(not (Path(settings.MEDIA_ROOT) / a.snapshot.name).exists() for a in old)
    # Safe to run again; retention 0 keeps everything.
    assert purge_expired_alerts.delay().get() == 0
    settings.ALERT_RETENTION_DAYS = 0
    assert purge_expired_alerts.delay().get() == 0 and Alert.objects.count() == 1


def test_purge_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["alerts-purge-expired"]
    assert entry["task"] == "alerts.tasks.purge_expired_alerts"
    from aimonitor.celery import app

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
