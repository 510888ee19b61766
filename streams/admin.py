"""Admin of the streams app."""
from . import admin_tasks  # noqa: F401 - monitoring tasks
