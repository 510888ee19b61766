"""Permission-matrix entries of the streams API."""
from tests.streams.matrix_tasks import ENDPOINTS as MONITOR_TASK_ENDPOINTS

ENDPOINTS = []
ENDPOINTS += MONITOR_TASK_ENDPOINTS
