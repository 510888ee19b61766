"""Loads a weights file and runs it once, then prints what it is, as one JSON line.

Run as ``python -m algorithms.engine.inspect_model PATH`` in a child process by the upload
validation: a corrupt file can crash the loader (or hang it), and that must not take the server
down. Exit status 0 with ``{"ok": true, "names": {...}, "task": ..., "format": ...}``, else 2 with
``{"ok": false, "error": "..."}``. Needs no Django.
"""
from __future__ import annotations

import json
import os
import sys


def inspect(path: str, device: str = "cpu") -> dict:
    import numpy as np
    from ultralytics import YOLO

    model = YOLO(path, task="detect")
    # ONNX and engine files load lazily: one prediction proves the file really runs.
    model.predict(np.zeros((64, 64, 3), dtype=np.uint8), verbose=False, device=device)
    names = {int(k): str(v) for k, v in (model.names or {}).items()}
    task = getattr(model, "task", None) or "detect"
    return {"ok": True, "names": names, "task": task}


def main(argv: list[str]) -> int:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_VERBOSE", "0")
    if len(argv) < 2:
        print(json.dumps({"ok": False, "error": "usage: inspect_model PATH [DEVICE]"}))
        return 2
    try:
        info = inspect(argv[1], argv[2] if len(argv) > 2 else "cpu")
    except BaseException as exc:  # noqa: BLE001 - every failure is a verdict on the file
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {message}"[:500]}))
        return 2
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
