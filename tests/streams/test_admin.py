"""The staff UI for cameras and groups: status badges, masked URLs, snapshot thumbnail, probe action,
groups as a tree; edits go through the same services as the API."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from streams.models import StreamGroup, VideoStream

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user):
    client = Client()
    client.force_login(make_user("admin", "boss", is_staff=True, is_superuser=True))
    return client


def test_changelist_shows_badges_and_masked_urls(staff):
    VideoStream.objects.create(name="Gate", url="rtsp://admin:s3cret@10.0.0.1/live", status="online")
    page = staff.get(reverse("admin:streams_videostream_changelist")).content.decode()
    assert "Gate" in page and "rtsp://admin:****@10.0.0.1/live" in page
    assert "s3cret" not in page
    assert "#2e7d32" in page  # the online badge


def test_probe_action_updates_status(staff, videos):
    stream = VideoStream.objects.create(name="Demo", type="file", url=str(videos / "short.mp4"))
    response = staff.post(reverse("admin:streams_videostream_changelist"),
                          {"action": "probe_selected", "_selected_action": [stream.pk]}, follow=True)
    assert response.status_code == 200
    assert "1 online" in response.content.decode()
    stream.refresh_from_db()
    assert stream.status == "online" and stream.width == 320


def test_snapshot_thumbnail_is_a_real_jpeg(staff, videos, no_zlm):
    stream = VideoStream.objects.create(name="Demo", type="file", url=str(videos / "short.mp4"))
    change = staff.get(reverse("admin:streams_videostream_change", args=[stream.pk])).content.decode()
    snapshot_url = reverse("admin:streams_videostream_snapshot", args=[stream.pk])
    assert snapshot_url in change
    response = staff.get(snapshot_url)
    assert response.status_code == 200 and response.content[:2] == b"\xff\xd8"


def test_admin_add_validates_the_source_and_uses_the_service(staff, no_zlm):
    url = reverse("admin:streams_videostream_add")
    form = {"name": "Gate", "type": "rtsp", "url": "http://wrong/scheme", "media_app": "live", "status": "unknown",
            "enabled": "on"}
    response = staff.post(url, form)
    assert response.status_code == 200 and "needs a rtsp:// or rtsps:// URL" in response.content.decode()
    assert VideoStream.objects.count() == 0
    response = staff.post(url, {**form, "url": "rtsp://10.0.0.1/live"})
    assert response.status_code == 302, response.content.decode()[:2000]
    stream = VideoStream.objects.get()
    assert stream.media_stream_id == f"cam{stream.pk}"


def test_groups_are_listed_as_a_tree(staff):
    root = StreamGroup.objects.create(name="Company")
    StreamGroup.objects.create(name="Zeta")
    StreamGroup.objects.create(name="Site", parent=root)
    page = staff.get(reverse("admin:streams_streamgroup_changelist")).content.decode()
    # Depth-first: the child follows its parent, before the later root.
    assert page.index("Company") < page.index("└ Site") < page.index("Zeta")
