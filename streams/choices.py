"""Choices for cameras, groups and monitoring tasks."""
from django.db import models


class StreamType(models.TextChoices):
    RTSP = "rtsp", "RTSP"
    RTMP = "rtmp", "RTMP"
    HLS = "hls", "HLS"
    HTTP_FLV = "http-flv", "HTTP-FLV"
    FILE = "file", "Local video file (looped)"


class StreamStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    ERROR = "error", "Error"


class GroupKind(models.TextChoices):
    ORGANIZATION = "organization", "Organization"
    VIRTUAL = "virtual", "Virtual organization"


class TaskStatus(models.TextChoices):
    STOPPED = "stopped", "Stopped"
    STARTING = "starting", "Starting"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting for schedule window"
    ERROR = "error", "Error"


class ScheduleType(models.TextChoices):
    REALTIME = "realtime", "Real time"
    SCHEDULED = "scheduled", "Scheduled"
