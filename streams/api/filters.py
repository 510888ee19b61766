"""Filters for the cameras and stream-groups lists."""
import django_filters

from streams.models import StreamGroup, VideoStream


class VideoStreamFilter(django_filters.FilterSet):
    group = django_filters.NumberFilter(field_name="groups__id", distinct=True)

    class Meta:
        model = VideoStream
        fields = ["status", "type", "group", "enabled"]


class StreamGroupFilter(django_filters.FilterSet):
    root = django_filters.BooleanFilter(field_name="parent", lookup_expr="isnull", label="Only top-level groups")

    class Meta:
        model = StreamGroup
        fields = ["kind", "parent", "root"]
