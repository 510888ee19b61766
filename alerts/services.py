"""Alert workflows: raising an alert (row + annotated snapshot, then a live push), processing and
batch-processing, deletion with the files, and the retention purge.

Every view, admin action, task and command calls these functions; none of them re-implements them.
Live pushes go out only after the transaction commits, so a client never hears of an alert it cannot
read back through the API.
"""
from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from aimonitor import metrics
from aimonitor.api.scoping import restrict_to_user
from aimonitor.live import ALERTS_GROUP, broadcast, task_group

from .choices import AlertLevel, AlertStatus
from .models import Alert
from .snapshots import annotate, encode_jpeg

logger = logging.getLogger(__name__)

ALERT_CREATED = "alert.created"
ALERT_UPDATED = "alert.updated"
_IMAGE_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# The related rows a payload names; every query that feeds payloads or lists selects them.
RELATED = ("stream", "algorithm", "task", "processed_by")


class UnknownAlerts(LookupError):
    """Some of the ids given to :func:`batch_process` name no alert the user may see."""

    def __init__(self, missing: list[int]):
        super().__init__(f"Unknown alert ids: {', '.join(map(str, missing))}")
        self.missing = missing


# --- Payloads and live push -----------------------------------------------------------------------

def alert_payload(alert: Alert) -> dict[str, Any]:
    """The alert as the API shows it, in plain JSON types (what the channel layer carries)."""
    from .api.serializers import AlertSerializer

    return json.loads(json.dumps(AlertSerializer(alert).data, cls=DjangoJSONEncoder))


def push(kind: str, alerts: Iterable[Alert]) -> None:
    """Sends ``{"type": kind, "alert": {...}}`` to the alerts feed and to the alert's task group.
    Call it after commit (``transaction.on_commit``)."""
    for alert in alerts:
        message = {"type": kind, "alert": alert_payload(alert)}
        broadcast(ALERTS_GROUP, message)
        if alert.task_id:
            broadcast(task_group(alert.task_id), message)


def _push_on_commit(kind: str, alert_ids: list[int]) -> None:
    def send() -> None:
        # Re-read after commit: the payload shows what was committed, with one query for all.
        alerts = list(Alert.objects.select_related(*RELATED).filter(pk__in=alert_ids).order_by("id"))
        if kind == ALERT_CREATED:
            for alert in alerts:
                metrics.count_alert(alert.type, alert.level)
        push(kind, alerts)

    transaction.on_commit(send)


# --- Raising ------------------------------------------------------------------------------------

def _json_safe(value: Any) -> Any:
    """numpy scalars and arrays, tuples, datetimes -> plain JSON types (NaN and inf become None)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _clean_detection(det: dict, index: int) -> dict:
    if not isinstance(det, dict):
        raise ValueError(f"detections[{index}] must be a dict")
    det = _json_safe(det)
    bbox = det.get("bbox")
    if bbox is not None:
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox):
            raise ValueError(f"detections[{index}].bbox must be [x1, y1, x2, y2] in pixels")
        det["bbox"] = [round(float(v), 1) for v in bbox]
    if det.get("confidence") is not None:
        det["confidence"] = round(float(det["confidence"]), 4)
    return det


def _clean_region(region: dict, index: int) -> dict:
    if not isinstance(region, dict):
        raise ValueError(f"regions[{index}] must be a dict")
    region = _json_safe(region)
    points = region.get("points") or []
    if not isinstance(points, list) or not all(isinstance(p, list) and len(p) == 2 for p in points):
        raise ValueError(f"regions[{index}].points must be [[x, y], ...] normalised to 0..1")
    region["points"] = [[float(x), float(y)] for x, y in points]
    return region


def _resolve(model: str, value):
    """An instance of ``app.Model`` from an instance, an id, or None."""
    if value is None:
        return None
    Model = apps.get_model(model)
    if isinstance(value, Model):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, str)):
        raise ValueError(f"{model} must be an instance or an id, not {type(value).__name__}")
    instance = Model.objects.filter(pk=int(value)).first()
    if instance is None:
        raise ValueError(f"{model} {value} does not exist")
    return instance


def raise_alert(*, alert_type: str, level: str, detections: list[dict], frame: np.ndarray | None,
                task=None, stream=None, algorithm=None, regions: list[dict] | None = None,
                detection_time: datetime | None = None, metadata: dict | None = None,
                extra_images: dict[str, np.ndarray] | None = None) -> Alert:
    """Records one alert: the row and its annotated JPEG snapshot (boxes with labels, regions drawn)
    plus any ``extra_images`` (e.g. ``{"face_crop": ndarray}``), all or nothing, then on commit
    pushes ``alert.created`` to the alerts feed and the task's group.

    ``task``, ``stream`` and ``algorithm`` are instances or ids; the stream and algorithm default to
    the task's. ``detections`` are ``{"class", "class_id", "confidence", "bbox": [x1, y1, x2, y2],
    "zone"?}`` in pixels of ``frame`` (BGR); ``regions`` ``{"name", "points"}`` normalised 0..1.
    They are stored in ``metadata`` beside anything given there (face matches, the rule).
    Raises ``ValueError`` for bad input and writes nothing then.
    """
    if level not in AlertLevel.values:
        raise ValueError(f"level must be one of {', '.join(AlertLevel.values)}, not {level!r}")
    alert_type = str(alert_type or "").strip()
    if not alert_type or len(alert_type) > Alert._meta.get_field("type").max_length:
        raise ValueError("alert_type must be 1 to 64 characters")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError("metadata must be a dict")
    detections = [_clean_detection(d, i) for i, d in enumerate(detections or [])]
    regions = [_clean_region(r, i) for i, r in enumerate(regions or [])]
    extra_images = extra_images or {}
    for key in extra_images:
        if not isinstance(key, str) or not _IMAGE_KEY.match(key):
            raise ValueError(f"extra image name {key!r} must be a short slug (a-z, 0-9, _ or -)")
    when = detection_time or timezone.now()
    if timezone.is_naive(when):
        raise ValueError("detection_time must be timezone-aware")

    task = _resolve("streams.MonitorTask", task)
    stream = _resolve("streams.VideoStream", stream if stream is not None else (task.stream_id if task else None))
    algorithm = _resolve("algorithms.Algorithm",
                         algorithm if algorithm is not None else (task.algorithm_id if task else None))

    # Draw and encode before the transaction: CPU work must not hold a database write lock.
    snapshot = encode_jpeg(annotate(frame, detections, regions, level)) if frame is not None else None
    extras = {key: encode_jpeg(image, f"extra_images[{key!r}]") for key, image in extra_images.items()}

    alert = Alert(type=alert_type, level=level, stream=stream, algorithm=algorithm, task=task,
                  detection_time=when,
                  metadata={**_json_safe(metadata or {}), "detections": detections, "regions": regions})
    folder = f"snapshots/{timezone.localtime(when):%Y/%m/%d}"
    stem = uuid.uuid4().hex
    stored: list[str] = []
    try:
        with transaction.atomic():
            if snapshot is not None:
                alert.snapshot.name = default_storage.save(f"{folder}/{stem}.jpg", ContentFile(snapshot))
                stored.append(alert.snapshot.name)
            for key, data in extras.items():
                name = default_storage.save(f"{folder}/{stem}-{key}.jpg", ContentFile(data))
                stored.append(name)
                alert.extra_images[key] = name
            alert.save(force_insert=True)
            _push_on_commit(ALERT_CREATED, [alert.pk])
    except BaseException:
        # The row is rolled back; leave no file behind either.
        _delete_files(stored)
        raise
    return alert


# --- Handling -----------------------------------------------------------------------------------

def _handling_fields(user, status: str, now: datetime) -> dict[str, Any]:
    if status not in AlertStatus.values:
        raise ValueError(f"status must be one of {', '.join(AlertStatus.values)}, not {status!r}")
    if status == AlertStatus.NEW:
        # Re-opened: nobody has handled it any more.
        return {"status": status, "processed_by": None, "processed_at": None}
    return {"status": status, "processed_by": user, "processed_at": now}


def process_alert(alert: Alert, user, status: str, notes: str | None = None) -> Alert:
    """Sets the alert's status (``processed``, ``false_positive``, or back to ``new``), who handled it
    and when, and optionally the notes; pushes ``alert.updated`` on commit. Returns the fresh row."""
    fields = _handling_fields(user, status, timezone.now())
    if notes is not None:
        fields["notes"] = notes
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert.pk).update(**fields)
        if not updated:
            raise Alert.DoesNotExist(f"Alert {alert.pk} no longer exists")
        _push_on_commit(ALERT_UPDATED, [alert.pk])
    for name, value in fields.items():
        setattr(alert, name, value)
    return alert


def batch_process(ids: Iterable[int], user, status: str = AlertStatus.PROCESSED,
                  notes: str | None = None) -> dict[str, Any]:
    """Processes many alerts in one transaction: all of them or none. Ids the user may not see count
    as unknown and raise :class:`UnknownAlerts` (nothing changes). Returns ``{processed_count,
    processed_ids, processed_at}`` and pushes ``alert.updated`` for each on commit."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    now = timezone.now()
    fields = _handling_fields(user, status, now)
    if notes is not None:
        fields["notes"] = notes
    with transaction.atomic():
        visible = restrict_to_user(Alert.objects.filter(pk__in=wanted), user, "stream")
        # Lock the rows (PostgreSQL) so that two concurrent batches serialise instead of interleaving.
        found = set(visible.select_for_update().values_list("pk", flat=True))
        missing = [i for i in wanted if i not in found]
        if missing:
            raise UnknownAlerts(missing)
        Alert.objects.filter(pk__in=found).update(**fields)
        _push_on_commit(ALERT_UPDATED, sorted(found))
    return {"processed_count": len(found), "processed_ids": sorted(found), "processed_at": now}


# --- Deletion and retention ---------------------------------------------------------------------

def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            # A file that cannot be removed must not undo the deletion of the rows; log it.
            logger.warning("Could not delete alert file %s", name, exc_info=True)


def delete_alert(alert: Alert) -> None:
    """Deletes the alert and, once that is committed, its snapshot and extra images."""
    names = alert.file_names()
    with transaction.atomic():
        Alert.objects.filter(pk=alert.pk).delete()
        transaction.on_commit(lambda: _delete_files(names))


def delete_alerts(queryset) -> int:
    """Deletes every alert of ``queryset`` and, once committed, their files (the admin's bulk delete)."""
    rows = list(queryset.order_by().values_list("pk", "snapshot", "extra_images"))
    names = [snap for _, snap, _ in rows if snap]
    names += [n for _, _, extra in rows for n in (extra or {}).values() if isinstance(n, str) and n]
    with transaction.atomic():
        deleted, _ = Alert.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
        transaction.on_commit(lambda: _delete_files(names))
    return deleted


def purge_expired_alerts(*, days: int | None = None, batch_size: int | None = None,
                         now: datetime | None = None) -> int:
    """Deletes alerts detected more than ``days`` (default ``ALERT_RETENTION_DAYS``; 0 keeps all) ago,
    with their files, ``batch_size`` rows per transaction. Safe to run twice or concurrently.
    Returns how many alerts were deleted."""
    days = settings.ALERT_RETENTION_DAYS if days is None else days
    batch_size = batch_size or settings.ALERT_PURGE_BATCH_SIZE
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    total = 0
    while True:
        rows = list(Alert.objects.filter(detection_time__lt=cutoff).order_by("detection_time", "id")
                    .values_list("pk", "snapshot", "extra_images")[:batch_size])
        if not rows:
            return total
        names = [snap for _, snap, _ in rows if snap]
        names += [n for _, _, extra in rows for n in (extra or {}).values() if isinstance(n, str) and n]
        with transaction.atomic():
            deleted, _ = Alert.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
        _delete_files(names)
        total += deleted
        if len(rows) < batch_size:
            return total


# --- Statistics ---------------------------------------------------------------------------------

def _local_zone():
    return timezone.get_default_timezone()


def _series_keys(first: datetime, last: datetime, group_by: str) -> list[str]:
    """Every day (or hour) from ``first`` to ``last`` inclusive, as the keys ``by_date`` uses."""
    keys: list[str] = []
    if group_by == "hour":
        step, cursor = timedelta(hours=1), first.replace(minute=0, second=0, microsecond=0)
        while cursor <= last and len(keys) < 24 * 366:
            keys.append(cursor.isoformat())
            # Walk in UTC so that a daylight-saving change neither repeats nor skips an hour.
            cursor = (cursor.astimezone(ZoneInfo("UTC")) + step).astimezone(first.tzinfo)
    else:
        day, end = first.date(), last.date()
        while day <= end and len(keys) < 366 * 10:
            keys.append(day.isoformat())
            day += timedelta(days=1)
    return keys


def alert_statistics(queryset, *, group_by: str = "day", start: datetime | None = None,
                     end: datetime | None = None) -> dict[str, Any]:
    """Counts over ``queryset`` (already filtered and scoped), computed in the database: totals by
    status, by level, by type, by stream, and a series by local day or hour (``TIME_ZONE``) with
    empty days (or hours) filled in between ``start`` and ``end`` (or the first and last alert).

    ``processed`` counts every handled alert (``processed`` and ``false_positive``, i.e.
    ``is_processed``); ``false_positive`` is its subset; ``unprocessed`` the ``new`` ones."""
    if group_by not in ("day", "hour"):
        raise ValueError("group_by must be day or hour")
    queryset = queryset.order_by()
    totals = queryset.aggregate(
        total=Count("id"),
        unprocessed=Count("id", filter=Q(status=AlertStatus.NEW)),
        false_positive=Count("id", filter=Q(status=AlertStatus.FALSE_POSITIVE)),
        first=Min("detection_time"), last=Max("detection_time"),
    )
    total = totals["total"]
    by_level = dict.fromkeys(AlertLevel.values, 0)
    by_level.update({row["level"]: row["n"] for row in queryset.values("level").annotate(n=Count("id"))})
    by_type = {row["type"]: row["n"]
               for row in queryset.values("type").annotate(n=Count("id")).order_by("-n", "type")}
    by_stream = [{"id": row["stream_id"], "name": row["stream__name"], "count": row["n"]}
                 for row in queryset.values("stream_id", "stream__name").annotate(n=Count("id"))
                 .order_by("-n", "stream_id")]

    zone = _local_zone()
    trunc = TruncHour("detection_time", tzinfo=zone) if group_by == "hour" else \
        TruncDate("detection_time", tzinfo=zone)
    counts = {}
    for row in queryset.annotate(bucket=trunc).values("bucket").annotate(n=Count("id")):
        bucket = row["bucket"]
        if group_by == "hour":
            bucket = timezone.localtime(bucket, zone) if timezone.is_aware(bucket) else bucket.replace(tzinfo=zone)
        counts[bucket.isoformat()] = row["n"]
    first = start or totals["first"]
    last = end or totals["last"]
    if first is not None and last is not None and first <= last:
        keys = _series_keys(timezone.localtime(first, zone), timezone.localtime(last, zone), group_by)
        keys += sorted(set(counts) - set(keys))
    else:
        keys = sorted(counts)
    by_date = [{"date": key, "count": counts.get(key, 0)} for key in keys]

    return {
        "total": total,
        "processed": total - totals["unprocessed"],
        "unprocessed": totals["unprocessed"],
        "false_positive": totals["false_positive"],
        "processing_rate": round((total - totals["unprocessed"]) / total, 4) if total else None,
        "by_level": by_level,
        "by_type": by_type,
        "by_stream": by_stream,
        "by_date": by_date,
    }


def daily_counts_by_level(queryset, days: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """For the admin dashboard: ``[{date, info, warning, critical, total}]`` for the last ``days``
    local days (today included), in one grouped query."""
    zone = _local_zone()
    today = timezone.localtime(now or timezone.now(), zone).date()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, datetime.min.time()), zone)
    rows = (queryset.order_by().filter(detection_time__gte=since)
            .annotate(day=TruncDate("detection_time", tzinfo=zone)).values("day", "level").annotate(n=Count("id")))
    series = {first + timedelta(days=i): dict.fromkeys(AlertLevel.values, 0) for i in range(days)}
    for row in rows:
        if row["day"] in series and row["level"] in series[row["day"]]:
            series[row["day"]][row["level"]] = row["n"]
    return [{"date": day.isoformat(), **levels, "total": sum(levels.values())} for day, levels in series.items()]


# --- Export -------------------------------------------------------------------------------------

EXPORT_COLUMNS = ["id", "detection_time", "type", "level", "status", "is_processed", "stream_id", "stream",
                  "algorithm", "task", "detections", "processed_by", "processed_at", "notes", "snapshot_url"]


class ExportTooLarge(ValueError):
    """The filters select more rows than ``ALERT_EXPORT_MAX_ROWS``."""

    def __init__(self, limit: int):
        super().__init__(f"The export is limited to {limit} alerts; narrow the filters (e.g. a date range).")
        self.limit = limit


def check_export_size(queryset, limit: int | None = None) -> int:
    """How many rows the export will hold; raises :class:`ExportTooLarge` past the cap (counting at
    most cap + 1 rows)."""
    limit = settings.ALERT_EXPORT_MAX_ROWS if limit is None else limit
    count = queryset.order_by().values("pk")[: limit + 1].count()
    if count > limit:
        raise ExportTooLarge(limit)
    return count


def _summarise_detections(metadata) -> str:
    parts = []
    for det in (metadata or {}).get("detections") or []:
        label = str(det.get("class", "object"))
        if det.get("confidence") is not None:
            label = f"{label} {float(det['confidence']):.2f}"
        parts.append(label)
    return "; ".join(parts)


def export_rows(queryset, chunk_size: int = 2000) -> Iterable[list[Any]]:
    """Yields one list per alert in ``EXPORT_COLUMNS`` order, reading the rows in chunks through a
    server-side cursor (PostgreSQL) so that memory stays flat however many rows are exported.
    Datetimes are in the configured ``TIME_ZONE``."""
    zone = _local_zone()
    rows = queryset.values_list("id", "detection_time", "type", "level", "status", "stream_id", "stream__name",
                                "algorithm__name", "task__name", "metadata", "processed_by__username",
                                "processed_at", "notes", "snapshot")
    for (pk, when, kind, level, status, stream_id, stream_name, algorithm, task_name, metadata, user,
         processed_at, notes, snapshot) in rows.iterator(chunk_size=chunk_size):
        yield [pk, timezone.localtime(when, zone).replace(microsecond=0).isoformat(), kind, level, status,
               status != AlertStatus.NEW, stream_id, stream_name or "", algorithm or "", task_name or "",
               _summarise_detections(metadata), user or "",
               timezone.localtime(processed_at, zone).replace(microsecond=0).isoformat() if processed_at else "",
               notes, default_storage.url(snapshot) if snapshot else ""]
