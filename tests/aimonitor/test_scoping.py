"""Group visibility shared by streams, tasks and alerts (aimonitor/api/scoping.py)."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from aimonitor.api.scoping import restrict_to_user, user_may_see_stream, visible_group_ids
from streams.models import StreamGroup, VideoStream

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree():
    """GIVEN head office > branch > floor, plus an unrelated depot, one camera in each."""
    head = StreamGroup.objects.create(name="Head office")
    branch = StreamGroup.objects.create(name="Branch", parent=head)
    floor = StreamGroup.objects.create(name="Floor", parent=branch)
    depot = StreamGroup.objects.create(name="Depot")
    cams = {}
    for group in (head, branch, floor, depot):
        cams[group.name] = VideoStream.objects.create(name=f"cam {group.name}", url="rtsp://127.0.0.1/x")
        cams[group.name].groups.add(group)
    return {"groups": {g.name: g for g in (head, branch, floor, depot)}, "cams": cams}


def _visible(user) -> set[str]:
    return set(restrict_to_user(VideoStream.objects.all(), user, "").values_list("name", flat=True))


def test_a_member_sees_its_groups_and_their_descendants(tree, make_user):
    user = make_user("viewer")
    tree["groups"]["Branch"].members.add(user)
    assert _visible(user) == {"cam Branch", "cam Floor"}
    assert visible_group_ids(user) == {tree["groups"]["Branch"].pk, tree["groups"]["Floor"].pk}
    assert user_may_see_stream(user, tree["cams"]["Floor"].pk)
    assert not user_may_see_stream(user, tree["cams"]["Depot"].pk)
    assert not user_may_see_stream(user, None)


def test_admins_unassigned_users_and_the_system_see_everything(tree, make_user):
    admin = make_user("admin")
    tree["groups"]["Depot"].members.add(admin)  # assignment does not restrict an admin
    everything = {f"cam {name}" for name in tree["groups"]}
    assert _visible(admin) == everything
    assert _visible(make_user("operator")) == everything
    assert _visible(None) == everything
    assert user_may_see_stream(None, tree["cams"]["Depot"].pk)


def test_anonymous_sees_nothing(tree):
    anonymous = AnonymousUser()
    assert _visible(anonymous) == set()
    assert not user_may_see_stream(anonymous, tree["cams"]["Head office"].pk)
