"""Filters for the alerts list, statistics and export (one filter set for all three)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from alerts.choices import AlertLevel, AlertStatus
from alerts.models import Alert


class DateOrDateTimeField(forms.Field):
    """A calendar date (``2026-11-28``: a whole day in the configured TIME_ZONE) or a full ISO datetime
    (naive means the configured TIME_ZONE)."""

    default_error_messages = {"invalid": "Enter a date (YYYY-MM-DD) or an ISO 8601 datetime."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        try:
            # Date first: Python's fromisoformat (inside parse_datetime) reads a bare date as midnight.
            parsed = parse_date(text) if len(text) == 10 else parse_datetime(text)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed


class StrictBooleanField(forms.Field):
    """true/false (also 1/0, yes/no); anything else is an error rather than "no filter"."""

    VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    default_error_messages = {"invalid": "Enter true or false."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


class BoundFilter(django_filters.Filter):
    """``detection_time >= start`` or ``< end``; a date as an end bound includes that whole day."""

    field_class = DateOrDateTimeField

    def __init__(self, *args, end: bool = False, **kwargs):
        self.end = end
        super().__init__(*args, field_name="detection_time", **kwargs)

    @staticmethod
    def as_datetime(value, end: bool) -> datetime:
        if isinstance(value, datetime):
            return timezone.make_aware(value) if timezone.is_naive(value) else value
        day: date = value + timedelta(days=1) if end else value
        return timezone.make_aware(datetime.combine(day, time.min))

    def filter(self, qs, value):
        if value is None:
            return qs
        bound = self.as_datetime(value, self.end)
        if self.end and isinstance(value, datetime):
            return qs.filter(detection_time__lte=bound)
        return qs.filter(**{"detection_time__lt" if self.end else "detection_time__gte": bound})


class CommaListFilter(django_filters.BaseInFilter, django_filters.CharFilter):
    """``?level=warning,critical`` (one value or several, comma-separated)."""


class AlertFilter(django_filters.FilterSet):
    level = CommaListFilter(field_name="level", help_text="info, warning, critical; comma-separated for several.")
    type = CommaListFilter(field_name="type", help_text="Alert type(s), comma-separated.")
    status = CommaListFilter(field_name="status", help_text="new, processed, false_positive; comma-separated.")
    is_processed = StrictBooleanFilter(method="filter_is_processed",
                                                help_text="true: processed or false positive; false: new.")
    stream = django_filters.NumberFilter(field_name="stream_id", help_text="Stream id.")
    algorithm = django_filters.NumberFilter(field_name="algorithm_id", help_text="Algorithm id.")
    task = django_filters.NumberFilter(field_name="task_id", help_text="Monitoring task id.")
    start_date = BoundFilter(help_text="From this date (whole day, TIME_ZONE) or datetime, inclusive.")
    end_date = BoundFilter(end=True, help_text="Up to this date (whole day, TIME_ZONE) or datetime, inclusive.")
    since_id = django_filters.NumberFilter(field_name="id", lookup_expr="gt",
                                           help_text="Only alerts with a larger id, oldest first (catch-up "
                                                     "after a WebSocket reconnect).")

    class Meta:
        model = Alert
        fields: list[str] = []

    def filter_is_processed(self, qs, name, value):
        if value is None:
            return qs
        return qs.exclude(status=AlertStatus.NEW) if value else qs.filter(status=AlertStatus.NEW)

    def is_valid(self):
        valid = super().is_valid()
        data = self.form.cleaned_data if valid else {}
        for name, choices in (("level", AlertLevel.values), ("status", AlertStatus.values)):
            unknown = [v for v in data.get(name) or [] if v not in choices]
            if unknown:
                self.form.add_error(name, f"Unknown {name}: {', '.join(unknown)}. Choose from {', '.join(choices)}.")
        start, end = data.get("start_date"), data.get("end_date")
        if start is not None and end is not None and \
                BoundFilter.as_datetime(start, False) > BoundFilter.as_datetime(end, True):
            self.form.add_error("end_date", "end_date is before start_date.")
        return valid and not self.form.errors

    @property
    def is_filtered(self) -> bool:
        """Whether any filter narrows the list (an unfiltered list may use an estimated count)."""
        return any(value not in (None, "", []) for value in self.form.cleaned_data.values())
