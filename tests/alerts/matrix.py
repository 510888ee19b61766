"""Permission matrix for the alerts API: viewers read, operators process, admins delete."""
from tests.matrix import READ, Endpoint, admin_write, operator_write


def _alert(ctx):
    from alerts.models import Alert

    return {"pk": Alert.objects.create(type="intrusion_detection", level="warning").pk}


def _batch(ctx):
    from alerts.models import Alert

    ids = [Alert.objects.create(type="fall", level="info").pk for _ in range(2)]
    return {"alert_ids": ids, "status": "processed", "notes": "checked"}


ENDPOINTS = [
    Endpoint("GET", "alerts:alert-list", READ),
    Endpoint("GET", "alerts:alert-list", READ, query={"since_id": 0, "level": "warning,critical"}, note="filtered"),
    Endpoint("GET", "alerts:alert-detail", READ, kwargs=_alert),
    Endpoint("DELETE", "alerts:alert-detail", admin_write(204), kwargs=_alert),
    Endpoint("PATCH", "alerts:alert-process", operator_write(200), kwargs=_alert,
             data={"status": "processed", "notes": "ok"}),
    Endpoint("POST", "alerts:alert-batch-process", operator_write(200), data=_batch),
    Endpoint("GET", "alerts:alert-statistics", READ, query={"group_by": "hour"}),
    Endpoint("GET", "alerts:alert-export", READ, query={"format": "csv"}),
    Endpoint("GET", "alerts:alert-export", READ, query={"format": "xlsx"}, note="xlsx"),
]
