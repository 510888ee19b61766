"""The alerts admin: list with thumbnails and filters, bulk actions through the services, deletion of
files, and the dashboard's charts."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Alert
from alerts.services import raise_alert
from tests.media import bus_image

CHANGELIST = "/admin/alerts/alert/"
DASHBOARD = "/admin/alerts/alert/dashboard/"


@pytest.fixture
def staff(make_user):
    user = make_user("admin", "boss", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return user, client


def test_changelist_shows_thumbnails_and_filters(staff, stream, make_alert):
    _, client = staff
    with_snapshot = raise_alert(alert_type="intrusion_detection", level="critical", detections=[],
                                frame=bus_image()[:120, :160], stream=stream)
    make_alert(level="info", type="fall")
    response = client.get(CHANGELIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'src="/media/{with_snapshot.snapshot.name}"' in html
    assert "Dashboard" in html and "Mark selected alerts processed" in html
    filtered = client.get(CHANGELIST, {"level__exact": "info"}).content.decode()
    assert "fall" in filtered and f"/admin/alerts/alert/{with_snapshot.pk}/change/" not in filtered
    assert client.get(CHANGELIST, {"q": "Gate"}).status_code == 200
    assert client.get(CHANGELIST, {"detection_time__year": timezone.now().year}).status_code == 200


def test_changelist_query_count_does_not_grow(staff, task, make_alert, operator):
    _, client = staff

    def measure(n: int) -> int:
        Alert.objects.all().delete()
        for _ in range(n):
            make_alert(stream=task.stream, task=task, algorithm=task.algorithm, processed_by=operator,
                       status="processed")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(CHANGELIST).status_code == 200
        return len(queries)

    assert measure(2) == measure(30)


def test_bulk_actions_process_through_the_service(staff, make_alert):
    user, client = staff
    alerts = [make_alert() for _ in range(3)]
    response = client.post(CHANGELIST, {"action": "mark_false_positive",
                                        "_selected_action": [a.pk for a in alerts[:2]]}, follow=True)
    assert "2 alert(s) marked false positive." in response.content.decode()
    statuses = dict(Alert.objects.values_list("pk", "status"))
    assert [statuses[a.pk] for a in alerts] == ["false_positive", "false_positive", "new"]
    assert set(Alert.objects.filter(status="false_positive").values_list("processed_by", flat=True)) == {user.pk}


def test_editing_status_in_the_form_records_who_processed(staff, make_alert):
    user, client = staff
    alert = make_alert()
    response = client.post(f"/admin/alerts/alert/{alert.pk}/change/", {"status": "processed", "notes": "seen"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.notes, alert.processed_by_id) == ("processed", "seen", user.pk)
    assert alert.processed_at is not None


def test_admin_cannot_add_alerts_by_hand(staff):
    assert staff[1].get("/admin/alerts/alert/add/").status_code == 403


def test_bulk_delete_removes_the_files(staff, stream, settings, django_capture_on_commit_callbacks):
    _, client = staff
    alerts = [raise_alert(alert_type="fall", level="info", detections=[], frame=bus_image()[:64, :64],
                          stream=stream) for _ in range(2)]
    files = [Path(settings.MEDIA_ROOT) / a.snapshot.name for a in alerts]
    assert all(f.exists() for f in files)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [a.pk for a in alerts],
                                 "post": "yes"})
    assert Alert.objects.count() == 0
    assert not any(f.exists() for f in files)


def test_dashboard_draws_counts_per_day_by_level(staff, make_alert, make_stream, settings):
    settings.TIME_ZONE = "UTC"
    _, client = staff
    now = timezone.now()
    dock = make_stream("Dock")
    for _ in range(3):
        make_alert(level="critical", stream=dock, when=now - timedelta(days=1))
    make_alert(level="info", when=now - timedelta(days=1))
    make_alert(level="info", when=now, status="processed")
    make_alert(level="warning", when=now - timedelta(days=40))  # outside the 30 days
    response = client.get(DASHBOARD)
    assert response.status_code == 200
    html = response.content.decode()
    yesterday = (now - timedelta(days=1)).date().isoformat()
    bar = re.search(rf'<g data-date="{yesterday}" data-total="(\d+)">(.*?)</g>', html, re.S)
    assert bar and bar.group(1) == "4"
    heights = {m[0]: float(m[2]) for m in re.findall(
        r'data-level="(\w+)" data-count="(\d+)"[^>]*height="([\d.]+)"', bar.group(2))}
    # Three critical alerts are drawn three times as tall as the one info alert.
    assert heights["critical"] == pytest.approx(3 * heights["info"], rel=0.02)
    assert 'data-label="Dock" data-count="3"' in html
    assert re.search(r'id="total">Alerts<b>5</b>', html)
    assert re.search(r'id="rate">Processing rate<b>20.0 %</b>', html)
    assert len(re.findall(r"<g data-date=", html)) == 30


def test_dashboard_needs_staff(make_user):
    client = Client()
    client.force_login(make_user("operator", "not-staff"))
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
