"""The monitoring-task API: CRUD, filters, validation, start/stop/status, delete, group scoping."""
from __future__ import annotations

import pytest
from django.urls import reverse

from streams.models import MonitorTask, StreamGroup
from tests.conftest import client_for
from tests.monitoring.factories import make_algorithm, make_stream, make_task

pytestmark = pytest.mark.django_db

LIST = reverse("streams:monitor-task-list")


def detail(task):
    return reverse("streams:monitor-task-detail", kwargs={"pk": task.pk})


def act(task, verb):
    return reverse(f"streams:monitor-task-{verb}", kwargs={"pk": task.pk})


@pytest.fixture
def stream():
    return make_stream()


@pytest.fixture
def algorithm():
    return make_algorithm()


def test_admin_creates_a_stopped_task_with_normalised_rules(admin_client, admin_user, stream, algorithm):
    response = admin_client.post(LIST, {
        "name": "Door", "stream": stream.pk, "algorithm": algorithm.pk,
        "config": {"target_classes": ["Normal"], "region_of_interest": [[0, 0], [0.5, 0], [0.5, 1]]},
        "schedule_type": "scheduled", "schedule_config": {"start_time": "22:00", "end_time": "6:00", "days": ["fri"]},
    })
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "stopped" and body["desired_running"] is False
    assert body["created_by"] == admin_user.username
    assert body["config"]["region_of_interest"] == [{"name": "roi", "polygon": [[0, 0], [0.5, 0], [0.5, 1]]}]
    assert body["config"]["sample_fps"] == 2.0
    assert body["schedule_config"] == {"start_time": "22:00", "end_time": "06:00", "days": [4]}
    assert body["alert_count"] == 0 and body["last_alert"] is None


@pytest.mark.parametrize(("payload", "field"), [
    ({"stream": None}, "stream"),
    ({"stream": 999999}, "stream"),
    ({"algorithm": "one"}, "algorithm"),
    ({"name": ""}, "name"),
    ({"config": {"alert_threshold": 2}}, "config.alert_threshold"),
    ({"config": {"sample_fps": 1000}}, "config.sample_fps"),
    ({"config": {"target_classes": ["car"]}}, "config.target_classes"),
    ({"config": {"region_of_interest": [[0, 0], [2, 2], [0, 1]]}}, "config.region_of_interest"),
    ({"config": "everything"}, "config"),
    ({"schedule_type": "scheduled"}, "schedule_config.start_time"),
    ({"schedule_type": "scheduled", "schedule_config": {"start_time": "9:00", "end_time": "17:00", "days": [9]}},
     "schedule_config.days"),
    ({"schedule_type": "sometimes"}, "schedule_type"),
])
def test_invalid_task_is_refused_and_nothing_is_written(admin_client, stream, algorithm, payload, field):
    data = {"name": "Door", "stream": stream.pk, "algorithm": algorithm.pk, **payload}
    data = {k: v for k, v in data.items() if v is not None}
    response = admin_client.post(LIST, data)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] in {"invalid", "does_not_exist", "incorrect_type", "required", "blank", "invalid_choice"}
    assert field in body["errors"], body
    assert MonitorTask.objects.count() == 0


def test_a_disabled_algorithm_cannot_be_used(admin_client, stream):
    disabled = make_algorithm(name="Old", is_active=False)
    response = admin_client.post(LIST, {"name": "Door", "stream": stream.pk, "algorithm": disabled.pk})
    assert response.status_code == 400
    assert response.json()["errors"]["algorithm"] == ["This algorithm is disabled."]
    assert not MonitorTask.objects.exists()


def test_list_filters_by_status_stream_and_algorithm(viewer_client, stream, algorithm):
    other_stream, other_algorithm = make_stream("Yard"), make_algorithm(name="Other")
    running = make_task("a", stream=stream, algorithm=algorithm, status="running", desired_running=True)
    make_task("b", stream=other_stream, algorithm=algorithm)
    make_task("c", stream=stream, algorithm=other_algorithm)

    def names(**query):
        response = viewer_client.get(LIST, query)
        assert response.status_code == 200
        return sorted(item["name"] for item in response.json()["results"])

    assert names() == ["a", "b", "c"]
    assert names(status="running") == [running.name]
    assert names(stream=stream.pk) == ["a", "c"]
    assert names(algorithm=algorithm.pk) == ["a", "b"]
    assert viewer_client.get(LIST, {"status": "bogus"}).status_code == 400


def test_users_assigned_to_groups_see_only_their_streams_tasks(make_user, stream):
    group = StreamGroup.objects.create(name="North")
    stream.groups.add(group)
    mine = make_task("mine", stream=stream)
    theirs = make_task("theirs", stream=make_stream("Elsewhere"))
    viewer = make_user("viewer")
    group.members.add(viewer)
    client = client_for(viewer)
    assert [t["name"] for t in client.get(LIST).json()["results"]] == [mine.name]
    assert client.get(detail(theirs)).status_code == 404
    assert client.get(act(theirs, "status")).status_code == 404


def test_operator_restricted_to_a_group_cannot_start_a_task_elsewhere(make_user, algorithm):
    group = StreamGroup.objects.create(name="North")
    operator = make_user("operator")
    group.members.add(operator)
    elsewhere = make_task("elsewhere", stream=make_stream("Elsewhere"))
    response = client_for(operator).post(act(elsewhere, "start"))
    assert response.status_code == 404
    elsewhere.refresh_from_db()
    assert elsewhere.desired_running is False


def test_detail_shows_the_alert_count_and_the_last_alert(viewer_client):
    from alerts.models import Alert

    task = make_task()
    Alert.objects.create(task=task, stream=task.stream, type="intrusion_detection", level="info")
    last = Alert.objects.create(task=task, stream=task.stream, type="fall", level="critical")
    body = viewer_client.get(detail(task)).json()
    assert body["alert_count"] == 2
    assert body["last_alert"]["id"] == last.pk and body["last_alert"]["level"] == "critical"


def test_partial_update_merges_config_and_moves_updated_at(admin_client):
    task = make_task(config={"target_classes": ["Normal"], "cooldown_seconds": 10}, desired_running=True,
                     status="running", claim_token="loop-token", frames_processed=5)
    before = task.updated_at
    response = admin_client.patch(detail(task), {"config": {"alert_threshold": 0.8}})
    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert task.config["alert_threshold"] == 0.8
    assert task.config["target_classes"] == ["Normal"] and task.config["cooldown_seconds"] == 10
    assert task.updated_at > before
    # Still running and still owned by its loop, which picks the change up at its next heartbeat.
    assert (task.desired_running, task.claim_token, task.frames_processed) == (True, "loop-token", 5)


def test_invalid_partial_update_changes_nothing(admin_client):
    task = make_task(config={"alert_threshold": 0.4})
    response = admin_client.patch(detail(task), {"config": {"alert_threshold": -1}})
    assert response.status_code == 400
    assert "config.alert_threshold" in response.json()["errors"]
    task.refresh_from_db()
    assert task.config["alert_threshold"] == 0.4


def test_operator_starts_a_task_once_and_a_second_start_is_a_no_op(operator_client,
                                                                   django_capture_on_commit_callbacks):
    task = make_task()
    with django_capture_on_commit_callbacks() as callbacks:
        first = operator_client.post(act(task, "start"))
    assert first.status_code == 200
    body = first.json()
    assert body["id"] == task.pk and body["name"] == task.name
    assert body["status"] == "starting" and body["changed"] is True and body["start_time"]
    # One loop queued (plus the status push).
    assert len(callbacks) == 2
    task.refresh_from_db()
    assert task.desired_running is True
    with django_capture_on_commit_callbacks() as callbacks:
        second = operator_client.post(act(task, "start"))
    assert second.status_code == 200 and second.json()["changed"] is False
    assert second.json()["start_time"] == body["start_time"]
    assert callbacks == []


def test_viewer_cannot_start_a_task(viewer_client):
    task = make_task()
    response = viewer_client.post(act(task, "start"))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    task.refresh_from_db()
    assert task.desired_running is False and task.status == "stopped"


def test_starting_a_task_on_a_disabled_stream_is_a_conflict(operator_client):
    task = make_task(stream=make_stream(enabled=False))
    response = operator_client.post(act(task, "start"))
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    task.refresh_from_db()
    assert task.desired_running is False


def test_stop_answers_the_duration_and_a_second_stop_is_a_no_op(operator_client):
    from datetime import timedelta

    from django.utils import timezone

    task = make_task(desired_running=True, status="running", claim_token="abc", worker="w:1",
                     started_at=timezone.now() - timedelta(seconds=90))
    response = operator_client.post(act(task, "stop"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "stopped" and body["changed"] is True
    assert 89 <= body["duration_seconds"] <= 120
    task.refresh_from_db()
    assert (task.desired_running, task.claim_token, task.worker) == (False, "", "")
    again = operator_client.post(act(task, "stop"))
    assert again.status_code == 200 and again.json()["changed"] is False
    assert again.json()["stop_time"] == body["stop_time"]


def test_status_reports_live_counters(viewer_client):
    from django.utils import timezone

    task = make_task(status="running", desired_running=True, current_fps=2.5, inference_ms=40.0,
                     frames_processed=12, worker="host:1", started_at=timezone.now(),
                     live_stats={"cpu_usage": 50.0, "memory_usage": 300.0, "gpu_usage": None,
                                 "detected_objects": [{"class": "Normal", "confidence": 0.8, "count": 2}]})
    body = viewer_client.get(act(task, "status")).json()
    assert body["id"] == task.pk and body["status"] == "running"
    assert body["current_fps"] == 2.5 and body["inference_ms"] == 40.0 and body["frames_processed"] == 12
    assert body["detected_objects"] == [{"class": "Normal", "confidence": 0.8, "count": 2}]
    assert body["worker"] == "host:1" and body["cpu_usage"] == 50.0 and body["uptime_seconds"] >= 0
    assert set(body) >= {"gpu_usage", "memory_usage", "last_frame_time"}


def test_deleting_a_running_task_stops_it_and_keeps_its_alerts(admin_client):
    from alerts.models import Alert

    task = make_task(desired_running=True, status="running", claim_token="tok")
    alert = Alert.objects.create(task=task, stream=task.stream)
    assert admin_client.delete(detail(task)).status_code == 204
    assert not MonitorTask.objects.filter(pk=task.pk).exists()
    alert.refresh_from_db()
    assert alert.task_id is None and alert.stream_id == task.stream_id


def test_unknown_task_is_a_404_in_the_shared_shape(operator_client):
    response = operator_client.post(reverse("streams:monitor-task-start", kwargs={"pk": 424242}))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_paths_answer_without_a_trailing_slash(viewer_client):
    task = make_task()
    assert viewer_client.get(f"/api/monitor-tasks/{task.pk}").status_code == 200
    assert viewer_client.get(f"/api/monitor-tasks/{task.pk}/status").status_code == 200
    assert viewer_client.get("/api/monitor-tasks").status_code == 200
