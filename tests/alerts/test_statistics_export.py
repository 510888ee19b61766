"""Statistics against hand-computed expectations across a day boundary and time zones, and the CSV and
xlsx exports."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from alerts.models import Alert

STATS = "/api/alerts/statistics"
EXPORT = "/api/alerts/export"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def day_boundary(make_alert, make_stream, operator):
    """Six alerts around midnight in Shanghai (UTC+8). Local times in the comments."""
    gate, lobby = make_stream("Gate"), make_stream("Lobby")
    rows = [
        make_alert(stream=gate, level="critical", when=utc(2026, 11, 26, 20, 0)),  # 27th 04:00
        make_alert(stream=gate, level="warning", when=utc(2026, 11, 27, 15, 59), status="processed",
                   processed_by=operator, notes="=HYPERLINK(\"http://evil\")"),  # 27th 23:59
        make_alert(stream=lobby, level="warning", when=utc(2026, 11, 27, 16, 0), status="false_positive",
                   processed_by=operator),  # 28th 00:00
        make_alert(stream=lobby, level="info", type="face_recognition", when=utc(2026, 11, 28, 3, 30),
                   metadata={"detections": [{"class": "face", "confidence": 0.8123}]}),  # 28th 11:30
        make_alert(stream=None, level="critical", type="fall", when=utc(2026, 11, 28, 15, 0)),  # 28th 23:00
        make_alert(stream=gate, level="warning", when=utc(2026, 11, 28, 16, 30),
                   metadata={"detections": [{"class": "person", "confidence": 0.9}, {"class": "car"}]}),  # 29th 00:30
    ]
    return {"gate": gate, "lobby": lobby, "rows": rows}


def test_statistics_by_local_day_in_shanghai(viewer_client, day_boundary, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    response = viewer_client.get(STATS)
    assert response.status_code == 200
    gate, lobby = day_boundary["gate"], day_boundary["lobby"]
    assert response.json() == {
        "total": 6, "processed": 2, "unprocessed": 4, "false_positive": 1, "processing_rate": 0.3333,
        "by_level": {"info": 1, "warning": 3, "critical": 2},
        "by_type": {"intrusion_detection": 4, "face_recognition": 1, "fall": 1},
        "by_stream": [{"id": gate.pk, "name": "Gate", "count": 3}, {"id": lobby.pk, "name": "Lobby", "count": 2},
                      {"id": None, "name": None, "count": 1}],
        "by_date": [{"date": "2026-11-27", "count": 2}, {"date": "2026-11-28", "count": 3},
                    {"date": "2026-11-29", "count": 1}],
    }


def test_the_same_alerts_fall_on_other_days_in_utc(viewer_client, day_boundary, settings):
    settings.TIME_ZONE = "UTC"
    assert viewer_client.get(STATS).json()["by_date"] == [
        {"date": "2026-11-26", "count": 1}, {"date": "2026-11-27", "count": 2}, {"date": "2026-11-28", "count": 3}]


def test_statistics_for_a_local_date_range_fill_empty_days(viewer_client, day_boundary, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    body = viewer_client.get(STATS, {"start_date": "2026-11-26", "end_date": "2026-11-28"}).json()
    assert body["total"] == 5 and body["by_level"] == {"info": 1, "warning": 2, "critical": 2}
    assert body["by_date"] == [{"date": "2026-11-26", "count": 0}, {"date": "2026-11-27", "count": 2},
                               {"date": "2026-11-28", "count": 3}]


def test_statistics_by_hour_across_local_midnight(viewer_client, day_boundary, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    body = viewer_client.get(STATS, {"group_by": "hour", "start_date": "2026-11-27T15:00:00Z",
                                     "end_date": "2026-11-27T17:00:00Z"}).json()
    assert body["total"] == 2
    assert body["by_date"] == [{"date": "2026-11-27T23:00:00+08:00", "count": 1},
                               {"date": "2026-11-28T00:00:00+08:00", "count": 1},
                               {"date": "2026-11-28T01:00:00+08:00", "count": 0}]


def test_statistics_in_a_time_zone_behind_utc(viewer_client, day_boundary, settings):
    settings.TIME_ZONE = "America/Los_Angeles"  # UTC-8 in November
    body = viewer_client.get(STATS, {"stream": day_boundary["gate"].pk}).json()
    # Gate alerts: 26th 12:00, 27th 07:59, 28th 08:30 local.
    assert body["total"] == 3 and body["processed"] == 1
    assert body["by_date"] == [{"date": "2026-11-26", "count": 1}, {"date": "2026-11-27", "count": 1},
                               {"date": "2026-11-28", "count": 1}]


def test_statistics_of_nothing(viewer_client, db):
    body = viewer_client.get(STATS).json()
    assert body["total"] == 0 and body["processing_rate"] is None and body["by_date"] == []
    assert body["by_level"] == {"info": 0, "warning": 0, "critical": 0}


def test_statistics_refuse_bad_input(viewer_client, db):
    assert viewer_client.get(STATS, {"group_by": "week"}).json()["code"] == "invalid_choice"
    response = viewer_client.get(STATS, {"start_date": "soon"})
    assert response.status_code == 400 and "start_date" in response.json()["errors"]


def _csv(response) -> list[list[str]]:
    assert response.streaming, "the CSV must be streamed"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_export_streams_the_filtered_rows_in_local_time(viewer_client, day_boundary, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    response = viewer_client.get(EXPORT, {"format": "csv", "stream": day_boundary["gate"].pk})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="alerts-')
    rows = _csv(response)
    header, data = rows[0], rows[1:]
    assert header[:6] == ["id", "detection_time", "type", "level", "status", "is_processed"]
    gate_rows = [day_boundary["rows"][i] for i in (5, 1, 0)]
    assert [int(r[0]) for r in data] == [a.pk for a in gate_rows]
    record = dict(zip(header, data[0], strict=True))
    assert record["detection_time"] == "2026-11-29T00:30:00+08:00"
    assert record["detections"] == "person 0.90; car" and record["stream"] == "Gate"
    processed = dict(zip(header, data[1], strict=True))
    assert processed["status"] == "processed" and processed["is_processed"] == "True"
    assert processed["processed_by"] == "operator"
    # A note that a spreadsheet would run as a formula is written as text.
    assert processed["notes"] == "'=HYPERLINK(\"http://evil\")"


def test_xlsx_export_holds_the_same_rows(viewer_client, day_boundary, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    response = viewer_client.get(EXPORT, {"format": "xlsx", "level": "critical,info"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)["alerts"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:4] == ["id", "detection_time", "type", "level"]
    expected = [day_boundary["rows"][i] for i in (4, 3, 0)]
    assert [r[0] for r in rows[1:]] == [a.pk for a in expected]
    assert rows[2][1] == "2026-11-28T11:30:00+08:00" and rows[2][10] == "face 0.81"
    assert rows[1][7] is None or rows[1][7] == ""  # the fall alert has no stream


def test_export_past_the_row_cap_is_refused(viewer_client, day_boundary, settings):
    settings.ALERT_EXPORT_MAX_ROWS = 5
    response = viewer_client.get(EXPORT, {"format": "xlsx"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "export_too_large" and body["errors"] == {"limit": ["5"]}
    assert viewer_client.get(EXPORT, {"format": "csv", "level": "warning"}).status_code == 200


def test_export_refuses_an_unknown_format(viewer_client, db):
    response = viewer_client.get(EXPORT, {"format": "pdf"})
    assert response.status_code == 400 and response.json()["errors"] == {"format": ["Choose csv or xlsx."]}


def test_export_of_nothing_is_just_the_header(viewer_client, db):
    assert len(_csv(viewer_client.get(EXPORT))) == 1
    assert Alert.objects.count() == 0
