"""GET /api/system/gpus and /api/system/info, the GPU sampler and the worker's device check."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import django
import pytest
from django.urls import reverse

from aimonitor import gpu

ROOT = Path(__file__).resolve().parents[2]
HAS_GPU = gpu.sample_gpus()["available"]
cpu_only = pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
gpu_only = pytest.mark.skipif(not HAS_GPU, reason="no GPU on this machine")


@cpu_only
@pytest.mark.django_db
def test_gpus_endpoint_says_no_gpu_on_a_cpu_machine(viewer_client):
    response = viewer_client.get(reverse("system:gpus"))
    assert response.status_code == 200
    body = response.json()
    assert body["available"] is False
    assert body["gpus"] == []
    assert body["detail"].startswith("No GPU")
    assert len(body["hosts"]) == 1
    assert body["hosts"][0]["available"] is False
    assert "NVML" in body["hosts"][0]["error"]


@gpu_only
@pytest.mark.django_db
def test_gpus_endpoint_reports_each_gpus_figures(viewer_client):
    body = viewer_client.get(reverse("system:gpus")).json()
    assert body["available"] is True
    card = body["gpus"][0]
    assert card["memory_total_bytes"] > card["memory_used_bytes"] >= 0
    assert 0 <= card["utilization_percent"] <= 100
    assert card["temperature_c"] > 0


@pytest.mark.django_db
def test_gpus_endpoint_shows_every_worker_hosts_cached_sample(viewer_client):
    """GIVEN two worker hosts that stored their NVML samples in the cache
    WHEN a viewer asks for the GPUs THEN both hosts' cards are listed with their host names."""
    card = {"index": 0, "name": "NVIDIA L4", "uuid": "GPU-1", "utilization_percent": 40,
            "memory_used_bytes": 2 << 30, "memory_total_bytes": 24 << 30, "temperature_c": 55}
    gpu.store_sample({"host": "gpu-a", "available": True, "driver": "550", "error": None, "gpus": [card],
                      "sampled_at": "2026-11-28T15:00:00+00:00"})
    gpu.store_sample({"host": "gpu-b", "available": True, "driver": "550", "error": None,
                      "gpus": [card, {**card, "index": 1, "uuid": "GPU-2"}], "sampled_at": "2026-11-28T15:00:00+00:00"})
    body = viewer_client.get("/api/system/gpus").json()
    assert body["available"] is True
    assert [(g["host"], g["index"]) for g in body["gpus"]] == [("gpu-a", 0), ("gpu-b", 0), ("gpu-b", 1)]
    assert body["detail"] == "3 GPU(s) on 2 host(s)."


@pytest.mark.django_db
def test_gpu_sampler_thread_stores_this_hosts_sample(settings):
    sampler = gpu.start_sampler(interval=1)
    try:
        deadline = time.monotonic() + 10
        while not gpu.cached_samples() and time.monotonic() < deadline:
            time.sleep(0.05)
        samples = gpu.cached_samples()
    finally:
        gpu.stop_sampler()
    sampler.join(timeout=5)
    assert not sampler.is_alive()
    assert len(samples) == 1
    assert samples[0]["available"] is HAS_GPU


def test_require_device_accepts_cpu_and_resolves_auto():
    assert gpu.require_device("cpu") == "cpu"
    assert gpu.require_device("auto", count=0) == "cpu"
    assert gpu.require_device("auto", count=2) == "cuda:0"
    assert gpu.require_device("cuda:1", count=2) == "cuda:1"
    assert gpu.require_device("1", count=2) == "cuda:1"


def test_require_device_refuses_a_gpu_that_is_not_there():
    with pytest.raises(gpu.DeviceUnavailable, match="no CUDA GPU is available"):
        gpu.require_device("cuda:0", count=0)
    with pytest.raises(gpu.DeviceUnavailable, match=r"only 2 GPU\(s\) are visible"):
        gpu.require_device("cuda:2", count=2)
    with pytest.raises(gpu.DeviceUnavailable, match="is not a device"):
        gpu.require_device("tpu")


@cpu_only
def test_require_device_on_this_cpu_machine_refuses_cuda():
    with pytest.raises(gpu.DeviceUnavailable):
        gpu.require_device("cuda")


def _child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update(DJANGO_SETTINGS_MODULE="aimonitor.settings", LOG_TO_FILES="0", **extra)
    return env


@cpu_only
def test_worker_refuses_to_start_when_asked_for_a_missing_gpu(tmp_path):
    """GIVEN a CPU machine WHEN a Celery worker starts with INFERENCE_DEVICE=cuda:0
    THEN it exits non-zero with a message naming the device, before consuming anything."""
    env = _child_env(INFERENCE_DEVICE="cuda:0", CELERY_BROKER_URL="memory://", AIMONITOR_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "aimonitor", "worker", "--pool", "solo", "-Q", "inference",
         "--loglevel", "INFO"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "refusing to start the worker" in result.stderr
    assert "'cuda:0'" in result.stderr
    assert "ready." not in result.stderr + result.stdout


@pytest.mark.django_db
def test_system_info_shows_versions_counts_and_no_workers(operator_client, settings):
    """GIVEN no Celery worker running WHEN an operator asks for the system info
    THEN workers online is 0, and versions, queues and task counts are filled in."""
    from algorithms.models import Algorithm
    from streams.models import MonitorTask, VideoStream

    settings.SYSTEM_INSPECT_TIMEOUT = 0.3
    algorithm = Algorithm.objects.create(name="people")
    stream = VideoStream.objects.create(name="gate", url="rtsp://127.0.0.1/gate", status="online")
    MonitorTask.objects.create(name="a", stream=stream, algorithm=algorithm, status="running")
    MonitorTask.objects.create(name="b", stream=stream, algorithm=algorithm, status="stopped")
    MonitorTask.objects.create(name="c", stream=stream, algorithm=algorithm, status="running")

    response = operator_client.get("/api/system/info/")
    assert response.status_code == 200
    body = response.json()
    assert body["workers"]["online"] == 0
    assert body["workers"]["workers"] == []
    assert body["versions"]["django"] == django.get_version()
    assert body["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert body["versions"]["database"].startswith(("sqlite", "postgresql"))
    assert set(body["queues"]) == {"default", "inference"}
    assert body["tasks"]["monitor_tasks"] == {"total": 3, "by_status": {"running": 2, "stopped": 1}}
    assert body["tasks"]["streams"] == {"total": 1, "by_status": {"online": 1}}
    assert body["tasks"]["alerts"]["total"] == 0


@pytest.mark.django_db
def test_viewer_cannot_read_system_info(viewer_client):
    response = viewer_client.get("/api/system/info")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.django_db
def test_anonymous_cannot_read_gpus(api_client):
    response = api_client.get("/api/system/gpus")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.requires_redis
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: a broker a worker process can share")
@pytest.mark.django_db
def test_system_info_counts_a_running_worker(operator_client, settings, tmp_path):
    """GIVEN one real Celery worker on the Redis broker WHEN an operator asks for the system info
    THEN it is counted as online by name."""
    env = _child_env(AIMONITOR_VAR_DIR=str(tmp_path), INFERENCE_DEVICE="cpu", GPU_SAMPLE_SECONDS="0")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "aimonitor", "worker", "--pool", "solo", "-n", "systest@%h",
         "-Q", "aimonitor-systest", "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        settings.SYSTEM_INSPECT_TIMEOUT = 1.0
        deadline = time.monotonic() + 90
        body = {}
        while time.monotonic() < deadline:
            body = operator_client.get("/api/system/info").json()
            if body["workers"]["online"]:
                break
        assert body["workers"]["online"] == 1, body["workers"]
        assert body["workers"]["workers"][0].startswith("systest@")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.django_db
def test_admin_dashboard_shows_the_gpus_and_task_counts(client, make_user):
    staff = make_user("admin", "boss", is_staff=True, is_superuser=True)
    client.force_login(staff)
    gpu.store_sample({"host": "gpu-a", "available": True, "driver": "550", "error": None,
                      "sampled_at": "2026-11-28T15:00:00+00:00",
                      "gpus": [{"index": 0, "name": "NVIDIA L4", "uuid": "GPU-1", "utilization_percent": 37,
                                "memory_used_bytes": 3 << 30, "memory_total_bytes": 24 << 30, "temperature_c": 58}]})
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="system-status"' in html
    assert "0: NVIDIA L4" in html and "37 %" in html and "3.0 GiB / 24.0 GiB" in html and "58 °C" in html
    assert "Monitoring tasks" in html and "inference: 0" in html
