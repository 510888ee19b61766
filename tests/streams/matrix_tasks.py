"""Permission-matrix entries of the monitoring-task API (imported by tests/streams/matrix.py)."""
from tests.matrix import READ, Endpoint, admin_write, operator_write


def _task(ctx):
    from tests.monitoring.factories import make_task

    return {"pk": make_task().pk}


def _running_task(ctx):
    from tests.monitoring.factories import make_task

    return {"pk": make_task(desired_running=True, status="running").pk}


def _new_task(ctx):
    from tests.monitoring.factories import make_algorithm, make_stream

    return {"name": "New task", "stream": make_stream().pk, "algorithm": make_algorithm().pk,
            "config": {"target_classes": ["Normal"], "cooldown_seconds": 30}}


ENDPOINTS = [
    Endpoint("GET", "streams:monitor-task-list", READ),
    Endpoint("POST", "streams:monitor-task-list", admin_write(201), data=_new_task),
    Endpoint("GET", "streams:monitor-task-detail", READ, kwargs=_task),
    Endpoint("PATCH", "streams:monitor-task-detail", admin_write(200), kwargs=_task,
             data={"config": {"alert_threshold": 0.8}}),
    Endpoint("PUT", "streams:monitor-task-detail", admin_write(200), kwargs=_task, data=_new_task),
    Endpoint("DELETE", "streams:monitor-task-detail", admin_write(204), kwargs=_running_task),
    Endpoint("POST", "streams:monitor-task-start", operator_write(200), kwargs=_task),
    Endpoint("POST", "streams:monitor-task-stop", operator_write(200), kwargs=_running_task),
    Endpoint("GET", "streams:monitor-task-status", READ, kwargs=_task),
]
