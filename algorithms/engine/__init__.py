"""The inference engine: ``get_predictor(algorithm).predict(frames) -> list[list[Detection]]``.

Importing this package does not import torch or ultralytics; loading a model does.
"""
from .device import apply_memory_cap, cuda_available, cuda_device_count, is_valid_device, resolve_device
from .errors import DeviceUnavailable, EngineError
from .predictor import Predictor, RunOptions, class_ids, get_predictor, loaded, unload
from .types import Detection

__all__ = ["Detection", "DeviceUnavailable", "EngineError", "Predictor", "RunOptions", "apply_memory_cap",
           "class_ids", "cuda_available", "cuda_device_count", "get_predictor", "is_valid_device", "loaded",
           "resolve_device", "unload"]
