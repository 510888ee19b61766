"""Choices for algorithms."""
from django.db import models


class AlgorithmKind(models.TextChoices):
    OBJECT_DETECTION = "object_detection", "Object detection"
    FACE_RECOGNITION = "face_recognition", "Face recognition"


class Framework(models.TextChoices):
    ULTRALYTICS = "ultralytics", "Ultralytics YOLO"
    OPENCV = "opencv", "OpenCV (YuNet + SFace)"


class WeightsFormat(models.TextChoices):
    PT = "pt", "PyTorch (.pt)"
    ONNX = "onnx", "ONNX (.onnx)"
    ENGINE = "engine", "TensorRT (.engine)"


class AlgorithmStatus(models.TextChoices):
    STOPPED = "stopped", "Stopped"
    LOADING = "loading", "Loading"
    RUNNING = "running", "Running"
    ERROR = "error", "Error"
