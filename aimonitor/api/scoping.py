"""Per-group visibility: users assigned to stream groups see only those groups' streams (and the
tasks and alerts on them). Admins and users with no group assignment see everything.

Apps pass the lookup path from their model to the stream (``"stream"`` for alerts and tasks, ``""``
for streams themselves); nothing here imports another app's code.
"""
from __future__ import annotations

from django.apps import apps
from django.db.models import QuerySet

from accounts.permissions import role_level


def visible_group_ids(user) -> set[int] | None:
    """The ids of the groups the user may see (assigned groups and their descendants), or None
    when the user is not restricted.

    ``None`` as the user means the system itself (a task, a command): unrestricted. An anonymous
    user sees no group at all, so a scope that forgets to authenticate leaks nothing.
    """
    if user is None or (user.is_authenticated and role_level(user) >= 3):
        return None
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_visible_group_ids", "unset")
    if cached != "unset":
        return cached
    StreamGroup = apps.get_model("streams", "StreamGroup")
    assigned = set(StreamGroup.objects.filter(members=user).values_list("id", flat=True))
    if not assigned:
        result = None
    else:
        edges = list(StreamGroup.objects.values_list("id", "parent_id"))
        children: dict[int, list[int]] = {}
        for gid, parent in edges:
            if parent is not None:
                children.setdefault(parent, []).append(gid)
        result, stack = set(), list(assigned)
        while stack:
            gid = stack.pop()
            if gid in result:
                continue
            result.add(gid)
            stack.extend(children.get(gid, []))
    user._visible_group_ids = result
    return result


def restrict_to_user(queryset: QuerySet, user, stream_path: str = "stream") -> QuerySet:
    """Filters ``queryset`` to what ``user`` may see; ``stream_path`` leads from its model to VideoStream."""
    group_ids = visible_group_ids(user)
    if group_ids is None:
        return queryset
    stream_ids_lookup = f"{stream_path}__id__in" if stream_path else "id__in"
    VideoStream = apps.get_model("streams", "VideoStream")
    stream_ids = VideoStream.objects.filter(groups__in=group_ids).values("id")
    return queryset.filter(**{stream_ids_lookup: stream_ids})


def user_may_see_stream(user, stream_id: int | None) -> bool:
    group_ids = visible_group_ids(user)
    if group_ids is None:
        return True
    if stream_id is None:
        return False
    VideoStream = apps.get_model("streams", "VideoStream")
    return VideoStream.objects.filter(id=stream_id, groups__in=group_ids).exists()
