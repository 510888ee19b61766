"""Filters for the algorithms and exports lists."""
import django_filters

from algorithms.models import Algorithm, ExportJob


class AlgorithmFilter(django_filters.FilterSet):
    class Meta:
        model = Algorithm
        fields = ["kind", "is_active", "status", "format", "framework"]


class ExportJobFilter(django_filters.FilterSet):
    class Meta:
        model = ExportJob
        fields = ["algorithm", "status", "format"]
