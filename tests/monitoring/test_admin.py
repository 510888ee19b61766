"""The monitoring-task admin: live columns, the region drawn, start/stop actions, validated rules."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from streams.models import MonitorTask
from tests.monitoring.factories import make_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user):
    client = Client()
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    return client


def test_change_page_draws_the_zones_and_the_list_shows_live_columns(staff):
    task = make_task(config={"region_of_interest": [{"name": "door", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9]]}]},
                     current_fps=2.5)
    page = staff.get(reverse("admin:streams_monitortask_change", args=[task.pk])).content.decode()
    assert '<polygon points="0.1,0.1 0.5,0.1 0.5,0.9"' in page and ">door</text>" in page
    listing = staff.get(reverse("admin:streams_monitortask_changelist")).content.decode()
    assert task.name in listing and "2.5" in listing


def test_start_and_stop_actions_go_through_the_services(staff):
    task = make_task()
    url = reverse("admin:streams_monitortask_changelist")
    staff.post(url, {"action": "start_tasks", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert task.desired_running and task.status == "starting"
    staff.post(url, {"action": "stop_tasks", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert not task.desired_running and task.status == "stopped"


def test_invalid_rules_are_refused_in_the_form(staff):
    task = make_task()
    response = staff.post(reverse("admin:streams_monitortask_change", args=[task.pk]), {
        "name": task.name, "stream": task.stream_id, "algorithm": task.algorithm_id,
        "config": '{"alert_threshold": 7}', "schedule_type": "realtime", "schedule_config": "{}"})
    assert response.status_code == 200 and "config.alert_threshold" in response.content.decode()
    assert MonitorTask.objects.get(pk=task.pk).config["alert_threshold"] == 0.5


def test_the_form_checks_face_keys_against_the_face_algorithm(staff):
    from faces.models import FaceLibrary
    from faces.seed import ensure_face_algorithm

    task = make_task()
    face_algorithm = ensure_face_algorithm()
    library = FaceLibrary.objects.create(name="watchlist", is_watchlist=True)
    url = reverse("admin:streams_monitortask_change", args=[task.pk])
    form = {"name": task.name, "stream": task.stream_id, "algorithm": face_algorithm.pk,
            "schedule_type": "realtime", "schedule_config": "{}"}
    response = staff.post(url, {**form, "config": '{"face_libraries": [999999]}'})
    assert response.status_code == 200 and "config.face_libraries" in response.content.decode()
    assert MonitorTask.objects.get(pk=task.pk).algorithm_id != face_algorithm.pk
    response = staff.post(url, {**form, "config": f'{{"face_libraries": [{library.pk}], "alert_strangers": true}}'})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.algorithm_id == face_algorithm.pk
    assert (task.config["face_libraries"], task.config["alert_strangers"]) == ([library.pk], True)
