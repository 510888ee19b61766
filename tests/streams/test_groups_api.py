"""Stream groups: tree CRUD with cycle checks, adding/removing streams, listing a group's streams."""
from __future__ import annotations

import pytest
from django.urls import reverse

from streams.models import StreamGroup, VideoStream

pytestmark = pytest.mark.django_db
LIST = reverse("streams:stream-group-list")


def url(name, pk):
    return reverse(f"streams:stream-group-{name}", kwargs={"pk": pk})


def stream(name="cam"):
    return VideoStream.objects.create(name=name, url="rtsp://10.0.0.1/live")


def test_admin_builds_a_tree_and_filters_roots(admin_client):
    root = admin_client.post(LIST, {"name": "Company", "kind": "organization", "address": "1 Main St"}).json()
    child = admin_client.post(LIST, {"name": "Site A", "parent": root["id"]})
    assert child.status_code == 201, child.content
    virtual = admin_client.post(LIST, {"name": "Entrances", "kind": "virtual"}).json()
    assert virtual["kind"] == "virtual" and virtual["stream_count"] == 0
    roots = admin_client.get(LIST, {"root": "true"}).json()["results"]
    assert [g["name"] for g in roots] == ["Company", "Entrances"]
    children = admin_client.get(LIST, {"parent": root["id"]}).json()["results"]
    assert [g["name"] for g in children] == ["Site A"]


def test_a_group_cannot_move_under_its_own_descendant(admin_client):
    a = StreamGroup.objects.create(name="A")
    b = StreamGroup.objects.create(name="B", parent=a)
    c = StreamGroup.objects.create(name="C", parent=b)
    for parent in (c, a):
        response = admin_client.patch(url("detail", a.pk), {"parent": parent.pk})
        assert response.status_code == 400 and response.json()["code"] == "invalid_parent"
    a.refresh_from_db()
    assert a.parent is None


def test_unknown_parent_and_bad_kind_are_refused(admin_client):
    response = admin_client.post(LIST, {"name": "X", "parent": 999})
    assert response.status_code == 400 and "parent" in response.json()["errors"]
    response = admin_client.post(LIST, {"name": "X", "kind": "club"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_choice"
    assert StreamGroup.objects.count() == 0


def test_add_and_remove_streams_and_list_them(admin_client, viewer_client):
    group = StreamGroup.objects.create(name="G")
    a, b, c = stream("a"), stream("b"), stream("c")
    response = admin_client.post(url("add-streams", group.pk), {"stream_ids": [a.pk, b.pk]})
    assert response.status_code == 200 and response.json() == {"changed": 2, "stream_count": 2}
    # Adding again changes nothing.
    assert admin_client.post(url("add-streams", group.pk), {"stream_ids": [a.pk]}).json()["changed"] == 0
    listed = viewer_client.get(url("streams", group.pk)).json()["results"]
    assert [s["name"] for s in listed] == ["a", "b"]
    response = admin_client.post(url("remove-streams", group.pk), {"stream_ids": [a.pk, c.pk]})
    assert response.json() == {"changed": 1, "stream_count": 1}
    assert list(group.streams.values_list("name", flat=True)) == ["b"]
    assert viewer_client.get(url("detail", group.pk)).json()["stream_count"] == 1


@pytest.mark.parametrize("payload", [{}, {"stream_ids": []}, {"stream_ids": "1"}, {"stream_ids": ["x"]},
                                     {"stream_ids": [999]}])
def test_add_streams_with_bad_ids_changes_nothing(admin_client, payload):
    group = StreamGroup.objects.create(name="G")
    stream("a")
    response = admin_client.post(url("add-streams", group.pk), payload, format="json")
    assert response.status_code == 400
    assert "stream_ids" in response.json()["errors"] or response.json()["errors"]
    assert group.streams.count() == 0


def test_operator_cannot_change_group_membership(operator_client):
    group = StreamGroup.objects.create(name="G")
    a = stream("a")
    response = operator_client.post(url("add-streams", group.pk), {"stream_ids": [a.pk]})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert group.streams.count() == 0


def test_deleting_a_group_keeps_its_streams(admin_client):
    parent = StreamGroup.objects.create(name="P")
    StreamGroup.objects.create(name="C", parent=parent)
    s = stream()
    s.groups.add(parent)
    assert admin_client.delete(url("detail", parent.pk)).status_code == 204
    assert StreamGroup.objects.count() == 0
    assert VideoStream.objects.filter(pk=s.pk).exists()
