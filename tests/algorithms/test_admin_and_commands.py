"""The staff UI (list, start/stop actions, the test page with a real picture) and the
``bench_inference`` management command."""
from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from algorithms import engine
from tests.media import jpeg_bytes, zidane_image

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(make_user):
    user = make_user("admin", "staff", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_list_shows_status_kind_format_and_device(staff_client, detector):
    response = staff_client.get(reverse("admin:algorithms_algorithm_changelist"))
    assert response.status_code == 200
    text = response.content.decode()
    assert detector.name in text and "Object detection" in text and "auto" in text


def test_the_admin_start_and_stop_actions_change_the_status(staff_client, detector,
                                                           django_capture_on_commit_callbacks):
    changelist = reverse("admin:algorithms_algorithm_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(changelist, {"action": "start_selected", "_selected_action": [detector.pk]})
    assert response.status_code == 302
    detector.refresh_from_db()
    assert detector.status == "running" and detector.pk in engine.loaded()
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(changelist, {"action": "stop_selected", "_selected_action": [detector.pk]})
    detector.refresh_from_db()
    assert detector.status == "stopped" and detector.pk not in engine.loaded()


def test_the_admin_test_page_runs_the_model_on_an_uploaded_picture(staff_client, detector):
    changelist = reverse("admin:algorithms_algorithm_changelist")
    response = staff_client.post(changelist, {"action": "test_on_image", "_selected_action": [detector.pk]})
    test_url = reverse("admin:algorithms_algorithm_test", args=[detector.pk])
    assert response.status_code == 302 and response["Location"] == test_url
    assert staff_client.get(test_url).status_code == 200
    response = staff_client.post(test_url, {"test_image": SimpleUploadedFile("z.jpg", jpeg_bytes(zidane_image()))})
    text = response.content.decode()
    assert response.status_code == 200
    assert "2 detection(s)" in text and "data:image/jpeg;base64," in text
    response = staff_client.post(test_url, {"test_image": SimpleUploadedFile("z.jpg", b"not a picture")})
    assert "not a readable image" in response.content.decode()


def test_bench_inference_prints_latency_throughput_and_overhead(make_algorithm, random_yolo_pt):
    algorithm = make_algorithm(random_yolo_pt, config={"input_size": 64, "device": "cpu"})
    out = io.StringIO()
    try:
        call_command("bench_inference", "--algorithm", str(algorithm.pk), "--batch", "1,2", "--frames", "4", stdout=out)
    finally:
        engine.unload(algorithm.pk)
    text = out.getvalue()
    assert re.search(r"^raw ultralytics\s+1\s+4\s+[\d.]+\s+[\d.]+", text, re.M)
    assert re.search(r"^engine\s+2\s+4\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$", text, re.M)
    assert re.search(r"batch 2: engine [\d.]+ vs raw [\d.]+ ms/frame \([+-][\d.]+% end to end\); "
                     r"overhead \(pre\+post\+conversion\) = [\d.]+% of model time", text)
    assert "batch 2 vs 1:" in text


def test_bench_inference_refuses_unknown_algorithms_and_bad_batches(make_algorithm):
    with pytest.raises(CommandError, match="no algorithm"):
        call_command("bench_inference", "--algorithm", "999")
    algorithm = make_algorithm()
    with pytest.raises(CommandError, match="--batch"):
        call_command("bench_inference", "--algorithm", str(algorithm.pk), "--batch", "1,x")
    with pytest.raises(CommandError, match="cannot load"):
        call_command("bench_inference", "--algorithm", str(algorithm.pk))
