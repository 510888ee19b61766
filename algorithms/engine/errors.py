"""Errors the engine raises, so callers can tell a bad model or request from a bug."""


class EngineError(Exception):
    """The model cannot be loaded or run with this configuration (missing file, wrong device...)."""


class DeviceUnavailable(EngineError):
    """The configuration needs a device this machine does not have (e.g. a TensorRT engine on CPU)."""
