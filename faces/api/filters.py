"""Filters for the face list."""
import django_filters

from faces.models import Face


class FaceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    person_id = django_filters.CharFilter()

    class Meta:
        model = Face
        fields = ["library", "name", "person_id"]
