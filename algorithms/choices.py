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


class ExportFormat(models.TextChoices):
    ONNX = "onnx", "ONNX (onnxruntime)"
    ENGINE = "engine", "TensorRT engine (needs a CUDA GPU)"


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
