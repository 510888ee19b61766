"""Pagination for the alerts list that never counts a huge table on every page.

The page is read with one extra row to learn whether a next page exists. When it does not, the total
is known without counting. Otherwise the rows are counted up to ``ALERT_LIST_COUNT_LIMIT``; past
that, PostgreSQL's planner estimate stands in (``pg_class.reltuples`` for an unfiltered list, the
plan's row estimate for a filtered one) and the response says ``count_is_estimate: true``. The body
keeps the shared ``{count, next, previous, results}`` shape.
"""
from __future__ import annotations

import json

from django.conf import settings
from django.db import connections
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from aimonitor.api.pagination import StandardPagination


def estimated_count(queryset, filtered: bool) -> int | None:
    """The planner's idea of how many rows ``queryset`` has (PostgreSQL), or None elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        if not filtered:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           [queryset.model._meta.db_table])
            row = cursor.fetchone()
            return int(row[0]) if row and row[0] >= 0 else None
        sql, params = queryset.order_by().values("pk").query.sql_with_params()
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)  # noqa: S608 - Django-built SQL and params
        plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset, filtered: bool, known_at_least: int) -> tuple[int, bool]:
    """``(count, is_estimate)``: exact up to ``ALERT_LIST_COUNT_LIMIT``, estimated past it."""
    limit = settings.ALERT_LIST_COUNT_LIMIT
    counted = queryset.order_by().values("pk")[: limit + 1].count()
    if counted <= limit:
        return counted, False
    estimate = estimated_count(queryset, filtered)
    if estimate is None:
        # SQLite (the embedded single-machine mode) has no estimates; its tables stay small enough.
        return queryset.order_by().count(), False
    return max(estimate, known_at_least, limit + 1), True


class AlertPagination(StandardPagination):
    """``page``/``page_size`` pages with a count that costs at most ``ALERT_LIST_COUNT_LIMIT`` rows."""

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param, "1")
        try:
            self.page_number = int(raw)
            if self.page_number < 1:
                raise ValueError
        except ValueError:
            raise NotFound(f"Invalid page {raw!r}: pages are numbered from 1.")
        offset = (self.page_number - 1) * page_size
        rows = list(queryset[offset: offset + page_size + 1])
        self.has_next = len(rows) > page_size
        rows = rows[:page_size]
        if self.page_number > 1 and not rows:
            raise NotFound(f"Invalid page {self.page_number}: there are no alerts that far.")
        if self.has_next:
            filterset = getattr(view, "filterset", None)
            filtered = filterset is None or filterset.is_filtered or getattr(view, "is_scoped", False)
            self.count, self.count_is_estimate = bounded_count(queryset, filtered, offset + len(rows) + 1)
        else:
            self.count, self.count_is_estimate = offset + len(rows), False
        return rows

    def get_next_link(self):
        if not self.has_next:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.page_query_param, self.page_number + 1)

    def get_previous_link(self):
        if self.page_number <= 1:
            return None
        url = self.request.build_absolute_uri()
        if self.page_number == 2:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, self.page_number - 1)

    def get_paginated_response(self, data):
        return Response({"count": self.count, "count_is_estimate": self.count_is_estimate,
                         "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        base = super().get_paginated_response_schema(schema)
        base["properties"]["count_is_estimate"] = {
            "type": "boolean", "example": False,
            "description": "True when the table is too large to count and `count` is the planner's estimate."}
        return base
