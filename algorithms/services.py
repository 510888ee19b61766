"""Algorithm workflows: storing and validating weights, test runs, start/stop on the inference
workers, exports, and the aggregated inference statistics behind the metrics endpoint.

Views, admin actions, tasks, the seed and the management commands all call these functions.
"""
from __future__ import annotations

import atexit
import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, FloatField, Max, Min, ProtectedError, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from . import engine
from .choices import AlgorithmKind, AlgorithmStatus, ExportFormat, ExportStatus, Framework, WeightsFormat
from .models import Algorithm, ExportJob, InferenceStat

logger = logging.getLogger(__name__)

WEIGHT_SUFFIXES = {".pt": WeightsFormat.PT, ".onnx": WeightsFormat.ONNX, ".engine": WeightsFormat.ENGINE}
METRIC_PERIODS = {"1d": 1, "7d": 7, "30d": 30, "all": None}


# --- errors the API maps to statuses -------------------------------------------------------------
class AlgorithmError(Exception):
    """A refused request. ``status`` and ``code`` are what the API answers with."""

    status = 400
    code = "invalid"

    def __init__(self, detail: str, *, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidModel(AlgorithmError):
    code = "invalid_model"


class InvalidImage(AlgorithmError):
    code = "invalid_image"


class TooLarge(AlgorithmError):
    status = 413
    code = "payload_too_large"


class InUse(AlgorithmError):
    status = 409
    code = "in_use"


class WrongState(AlgorithmError):
    status = 409
    code = "conflict"


class NotApplicable(AlgorithmError):
    """The request does not apply to this algorithm or cannot be carried out on this machine."""

    status = 422
    code = "unprocessable"


# --- weights files -------------------------------------------------------------------------------
def models_dir() -> Path:
    return Path(settings.MODELS_DIR)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def relative_to_models(path: Path) -> str:
    try:
        return str(path.relative_to(models_dir()))
    except ValueError:
        return str(path)


def inspect_weights(path: Path, *, timeout: float | None = None) -> dict:
    """Loads and runs the weights file in a child process with a time limit; returns
    ``{"names": {id: name}, "task": ...}`` or raises InvalidModel with the loader's reason."""
    timeout = timeout or settings.MODEL_VALIDATION_TIMEOUT
    env = {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_VERBOSE": "0",
           "PYTHONPATH": os.pathsep.join([str(settings.BASE_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    device = "0" if path.suffix == ".engine" else "cpu"
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv, the path is ours
            [sys.executable, "-m", "algorithms.engine.inspect_model", str(path), device],
            capture_output=True, text=True, timeout=timeout, env=env, cwd=str(settings.BASE_DIR),
        )
    except subprocess.TimeoutExpired:
        raise InvalidModel(f"Loading the model took longer than {timeout:.0f} s; it is not a usable model.",
                           field="model_file") from None
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    try:
        info = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        info = None
    if info is None:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise InvalidModel(f"The model loader crashed: {tail[0][:300]}", field="model_file")
    if not info.get("ok"):
        raise InvalidModel(f"Not a loadable model: {info.get('error')}", field="model_file")
    if info.get("task") != "detect":
        raise InvalidModel(f"The model is a {info.get('task')!r} model; object detection needs a detect model.",
                           field="model_file")
    info["names"] = {int(k): v for k, v in info["names"].items()}
    return info


def _check_weights_applicable(algorithm: Algorithm) -> None:
    if algorithm.kind != AlgorithmKind.OBJECT_DETECTION or algorithm.framework != Framework.ULTRALYTICS:
        raise NotApplicable(
            f"Model files are uploaded to ultralytics object-detection algorithms; this one is "
            f"{algorithm.get_kind_display()} ({algorithm.get_framework_display()}).")


def _weights_folder(algorithm_id: int) -> Path:
    folder = models_dir() / "algorithms" / str(algorithm_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _remove_if_orphan(rel_path: str, keep: str) -> None:
    """Deletes a replaced weights file of ours once no algorithm or export points at it."""
    if not rel_path or rel_path == keep or Path(rel_path).is_absolute():
        return
    if (Algorithm.objects.filter(weights=rel_path).exists()
            or ExportJob.objects.filter(result_weights=rel_path).exists()):
        return
    (models_dir() / rel_path).unlink(missing_ok=True)


def store_weights(algorithm: Algorithm, upload) -> Algorithm:
    """Validates an uploaded weights file by loading it in a child process and, only if it loads,
    makes it the algorithm's weights. Any failure keeps the previous weights in force and leaves no
    file behind. ``upload`` is a Django UploadedFile (anything with ``name``, ``size`` and ``chunks()``)."""
    _check_weights_applicable(algorithm)
    suffix = Path(upload.name or "").suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise InvalidModel(f"{upload.name!r} is not a model file; upload a .pt, .onnx or .engine file.",
                           field="model_file")
    if upload.size > settings.MAX_MODEL_UPLOAD_BYTES:
        raise TooLarge(f"The model file is {upload.size} bytes; the limit is {settings.MAX_MODEL_UPLOAD_BYTES}.",
                       field="model_file")
    if suffix == ".engine" and not engine.cuda_available():
        raise NotApplicable("TensorRT engines can be loaded (and so validated) only on a CUDA GPU; none is here.",
                            field="model_file")
    incoming = models_dir() / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    # Same file system as the final place, so the move into place is an atomic rename.
    fd, tmp_name = tempfile.mkstemp(suffix=suffix, dir=incoming)
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for chunk in upload.chunks():
                size += len(chunk)
                if size > settings.MAX_MODEL_UPLOAD_BYTES:
                    raise TooLarge(f"The model file is larger than {settings.MAX_MODEL_UPLOAD_BYTES} bytes.",
                                   field="model_file")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidModel("The model file is empty.", field="model_file")
        info = inspect_weights(tmp)
        sha = digest.hexdigest()
        final = _weights_folder(algorithm.pk) / f"{sha[:16]}{suffix}"
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return _switch_weights(algorithm.pk, final, sha, size, WEIGHT_SUFFIXES[suffix],
                           [info["names"][i] for i in sorted(info["names"])])


def _switch_weights(algorithm_id: int, path: Path, sha: str, size: int, fmt: str, class_names: list[str]) -> Algorithm:
    rel = relative_to_models(path)
    with transaction.atomic():
        algorithm = Algorithm.objects.select_for_update().get(pk=algorithm_id)
        previous = algorithm.weights
        algorithm.weights, algorithm.weights_sha256, algorithm.weights_size = rel, sha, size
        algorithm.format, algorithm.class_names = fmt, class_names
        algorithm.save(update_fields=["weights", "weights_sha256", "weights_size", "format", "class_names",
                                      "updated_at"])
        transaction.on_commit(lambda: _remove_if_orphan(previous, rel))
    if algorithm.status in (AlgorithmStatus.RUNNING, AlgorithmStatus.LOADING):
        # Running algorithms pick the new weights up at once: the workers reload and report again.
        algorithm = start_algorithm(algorithm)
    return algorithm


def register_weights_file(source: Path, *, name: str, version: str = "1.0", description: str = "",
                          config: dict | None = None) -> tuple[Algorithm, bool]:
    """Registers a weights file that is already on disk (the seed's shipped detector) as an
    algorithm, idempotently: copied under MODELS_DIR with its sha256, class names read from the model.
    Returns (algorithm, changed)."""
    source = Path(source)
    existing = Algorithm.objects.filter(name=name, version=version).first()
    if existing and existing.weights and existing.weights_path.is_file():
        # Registered before (perhaps with weights an admin uploaded since): leave it as it is.
        return existing, False
    sha = sha256_of(source)
    info = inspect_weights(source)
    algorithm = existing or Algorithm.objects.create(
        name=name, version=version, description=description, kind=AlgorithmKind.OBJECT_DETECTION,
        framework=Framework.ULTRALYTICS, config={**Algorithm._meta.get_field("config").default(), **(config or {})})
    final = _weights_folder(algorithm.pk) / f"{sha[:16]}{source.suffix.lower()}"
    if not final.is_file():
        tmp = final.with_suffix(final.suffix + ".part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, final)
    algorithm = _switch_weights(algorithm.pk, final, sha, source.stat().st_size, WEIGHT_SUFFIXES[source.suffix.lower()],
                                [info["names"][i] for i in sorted(info["names"])])
    return algorithm, True


# --- configuration ---------------------------------------------------------------------------------
CONFIG_KEYS = {"confidence_threshold", "iou_threshold", "input_size", "device", "half", "max_batch_size",
               "target_classes"}


def validate_config(config: dict, class_names: list[str] | None = None, *, partial: bool = False) -> dict:
    """Checks an algorithm config (or a test request's override); returns it normalised or raises
    AlgorithmError with the field at fault."""
    if not isinstance(config, dict):
        raise AlgorithmError("config must be a JSON object.", field="config")
    unknown = set(config) - CONFIG_KEYS
    if unknown:
        raise AlgorithmError(f"unknown config key(s): {', '.join(sorted(unknown))}", field="config")
    out = dict(config)

    def number(key, cast, low, high):
        if key not in config:
            return
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (cast is int and value != int(value)):
            raise AlgorithmError(f"{key} must be a number.", field=f"config.{key}")
        if not low <= value <= high:
            raise AlgorithmError(f"{key} must be between {low} and {high}.", field=f"config.{key}")
        out[key] = cast(value)

    number("confidence_threshold", float, 0.0, 1.0)
    number("iou_threshold", float, 0.0, 1.0)
    number("input_size", int, 32, 4096)
    number("max_batch_size", int, 1, 256)
    if "input_size" in out and out["input_size"] % 32:
        raise AlgorithmError("input_size must be a multiple of 32.", field="config.input_size")
    if "half" in config and not isinstance(config["half"], bool):
        raise AlgorithmError("half must be true or false.", field="config.half")
    if "device" in config and not engine.is_valid_device(str(config["device"])):
        raise AlgorithmError("device must be auto, cpu, cuda or cuda:N.", field="config.device")
    if "target_classes" in config:
        targets = config["target_classes"]
        if not isinstance(targets, list):
            raise AlgorithmError("target_classes must be a list of class names or ids.",
                                 field="config.target_classes")
        if class_names:
            try:
                engine.class_ids(targets, dict(enumerate(class_names)))
            except ValueError as exc:
                raise AlgorithmError(str(exc), field="config.target_classes") from None
    return out


# --- test runs -----------------------------------------------------------------------------------
def decode_image(data: bytes) -> np.ndarray:
    if len(data) > settings.MAX_IMAGE_UPLOAD_BYTES:
        raise TooLarge(f"The image is {len(data)} bytes; the limit is {settings.MAX_IMAGE_UPLOAD_BYTES}.",
                       field="test_image")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None or image.size == 0:
        raise InvalidImage("The file is not a readable image (JPEG, PNG, BMP or WebP).", field="test_image")
    return image


def draw_detections(image: np.ndarray, detections: list[engine.Detection]) -> np.ndarray:
    """A copy of the image with each detection's box and label drawn on it."""
    out = image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 400))
    for det in detections:
        x1, y1, x2, y2 = (int(round(v)) for v in det.bbox)
        color = ((det.class_id * 70) % 256, (det.class_id * 150 + 80) % 256, 255 - (det.class_id * 40) % 256)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        label = f"{det.class_name} {det.confidence:.2f}"
        (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
        top = max(0, y1 - h - 6)
        cv2.rectangle(out, (x1, top), (x1 + w + 4, top + h + 6), color, -1)
        cv2.putText(out, label, (x1 + 2, top + h + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def encode_jpeg_base64(image: np.ndarray, quality: int = 85) -> str:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InvalidImage("The annotated image could not be encoded.")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def test_algorithm(algorithm: Algorithm, image_bytes: bytes, *, config_override: dict | None = None,
                   return_image: bool = False) -> dict:
    """Runs the algorithm on one uploaded image in this process (through the same registry the
    workers use) and returns the detections, optionally with an annotated JPEG."""
    _check_weights_applicable(algorithm)
    if not algorithm.weights:
        raise WrongState("This algorithm has no model file yet; upload one first.")
    override = validate_config(config_override or {}, algorithm.class_names)
    image = decode_image(image_bytes)
    try:
        predictor = engine.get_predictor(algorithm)
        options = predictor.run_options(override, predictor.options) if override else None
        started = time.perf_counter()
        detections = predictor.predict([image], options)[0]
        elapsed = (time.perf_counter() - started) * 1000
    except engine.DeviceUnavailable as exc:
        raise NotApplicable(str(exc)) from None
    except engine.EngineError as exc:
        record_inference(algorithm.pk, 0, 0.0, errors=1)
        raise WrongState(f"The model cannot run: {exc}") from None
    record_inference(algorithm.pk, 1, elapsed)
    result = {"algorithm_id": algorithm.pk, "algorithm_name": algorithm.name,
              "processing_time_ms": round(elapsed, 2), "detections": [d.to_dict() for d in detections],
              "image_size": [int(image.shape[1]), int(image.shape[0])], "result_image": None}
    if return_image:
        result["result_image"] = encode_jpeg_base64(draw_detections(image, detections))
    return result


# --- start / stop ----------------------------------------------------------------------------------
def start_algorithm(algorithm: Algorithm) -> Algorithm:
    """Marks the algorithm ``loading`` and asks an inference worker to load it; the worker marks it
    ``running`` once the model is loaded and warmed up (or ``error`` with the reason)."""
    _check_weights_applicable(algorithm)
    if not algorithm.weights:
        raise WrongState("This algorithm has no model file yet; upload one first.")
    if not algorithm.is_active:
        raise WrongState("This algorithm is inactive; activate it before starting it.")
    from .tasks import load_algorithm_task

    with transaction.atomic():
        Algorithm.objects.filter(pk=algorithm.pk).update(status=AlgorithmStatus.LOADING, error="",
                                                         updated_at=timezone.now())
        transaction.on_commit(lambda: load_algorithm_task.apply_async(
            args=[algorithm.pk], queue=settings.CELERY_INFERENCE_QUEUE))
    algorithm.refresh_from_db()
    return algorithm


def load_on_this_worker(algorithm_id: int) -> str | None:
    """The inference worker's half of ``start``: load (or reload) the model here, then report. Returns
    the new status, or None when the algorithm is gone or no longer waiting to load."""
    algorithm = Algorithm.objects.filter(pk=algorithm_id).first()
    if algorithm is None or algorithm.status != AlgorithmStatus.LOADING:
        return None
    try:
        predictor = engine.get_predictor(algorithm)
    except Exception as exc:  # noqa: BLE001 - any load failure is reported on the record, truthfully
        logger.warning("Loading algorithm %s failed: %s", algorithm_id, exc)
        Algorithm.objects.filter(pk=algorithm_id, status=AlgorithmStatus.LOADING).update(
            status=AlgorithmStatus.ERROR, error=str(exc)[:2000], updated_at=timezone.now())
        return AlgorithmStatus.ERROR
    updated = Algorithm.objects.filter(pk=algorithm_id, status=AlgorithmStatus.LOADING).update(
        status=AlgorithmStatus.RUNNING, error="", updated_at=timezone.now())
    if not updated:  # stopped while loading: do not keep a model nobody wants
        engine.unload(algorithm_id)
        return None
    logger.info("Algorithm %s running on %s", algorithm_id, predictor.device)
    return AlgorithmStatus.RUNNING


def stop_algorithm(algorithm: Algorithm) -> Algorithm:
    """Marks the algorithm ``stopped`` and unloads it from this process and from every worker."""
    with transaction.atomic():
        Algorithm.objects.filter(pk=algorithm.pk).update(status=AlgorithmStatus.STOPPED, error="",
                                                         updated_at=timezone.now())
        transaction.on_commit(lambda: unload_everywhere(algorithm.pk))
    algorithm.refresh_from_db()
    return algorithm


def unload_everywhere(algorithm_id: int) -> None:
    engine.unload(algorithm_id)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # tests and one-process runs: this process is the only worker
    try:
        from aimonitor.celery import app

        # A remote-control broadcast reaches every worker, not just the one that takes a queued task.
        app.control.broadcast("unload_algorithm", arguments={"algorithm_id": algorithm_id})
    except Exception:  # noqa: BLE001 - a broker hiccup must not fail the stop; workers re-check on use
        logger.exception("Could not broadcast the unload of algorithm %s", algorithm_id)


def delete_algorithm(algorithm: Algorithm) -> None:
    """Deletes the algorithm and its weight files; refused while a monitoring task uses it."""
    if algorithm.is_in_use:
        raise InUse(f"Algorithm {algorithm.name!r} is used by {algorithm.tasks.count()} monitoring task(s); "
                    "remove them from the tasks first.")
    pk = algorithm.pk
    try:
        algorithm.delete()
    except ProtectedError:
        raise InUse(f"Algorithm {algorithm.name!r} is used by a monitoring task.") from None
    transaction.on_commit(lambda: (unload_everywhere(pk),
                                   shutil.rmtree(models_dir() / "algorithms" / str(pk), ignore_errors=True)))


# --- exports -----------------------------------------------------------------------------------
@dataclass
class ExportRequest:
    format: str
    half: bool = False
    int8: bool = False
    batch: int = 1
    imgsz: int = 640


def tensorrt_available() -> bool:
    setting = getattr(settings, "EXPORT_TENSORRT", "auto")
    if setting in (True, "1", "true", "yes"):
        return True
    if setting in (False, "0", "false", "no"):
        return False
    if not engine.cuda_available():
        return False
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


def request_export(algorithm: Algorithm, req: ExportRequest, user=None) -> ExportJob:
    """Checks that the export can run here and queues it (after commit) on the inference queue."""
    _check_weights_applicable(algorithm)
    if not algorithm.weights:
        raise WrongState("This algorithm has no model file yet; upload one first.")
    if algorithm.format != WeightsFormat.PT:
        raise WrongState(f"Exports start from PyTorch (.pt) weights; this algorithm uses {algorithm.format}.")
    if req.format == ExportFormat.ENGINE and not tensorrt_available():
        raise NotApplicable("TensorRT export needs a CUDA GPU with TensorRT installed; this machine has none. "
                            "Export to onnx instead, or run the export on a GPU host.", field="format")
    if req.half and req.format == ExportFormat.ONNX and not engine.cuda_available():
        raise NotApplicable("Half-precision ONNX export needs a CUDA GPU; this machine has none.", field="half")
    if req.int8:
        if req.format != ExportFormat.ENGINE:
            raise NotApplicable("INT8 export is offered for TensorRT engines only.", field="int8")
        if not settings.EXPORT_INT8_DATA:
            raise NotApplicable("INT8 export needs a calibration data set; set EXPORT_INT8_DATA to a dataset "
                                "YAML on the GPU host.", field="int8")
    with transaction.atomic():
        busy = ExportJob.objects.select_for_update().filter(
            algorithm=algorithm, status__in=(ExportStatus.PENDING, ExportStatus.RUNNING)).exists()
        if busy:
            raise WrongState("An export of this algorithm is already queued or running.")
        job = ExportJob.objects.create(
            algorithm=algorithm, format=req.format, half=req.half, int8=req.int8, batch=req.batch,
            imgsz=req.imgsz, dynamic=req.format == ExportFormat.ONNX and req.batch > 1,
            source_sha256=algorithm.weights_sha256, created_by=user if getattr(user, "pk", None) else None)
        from .tasks import export_task

        transaction.on_commit(lambda: export_task.apply_async(args=[job.pk], queue=settings.CELERY_INFERENCE_QUEUE))
    return job


def _job_progress(job_id: int, progress: int) -> None:
    ExportJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING).update(progress=progress)


def run_export(job_id: int) -> str | None:
    """Runs one export job (the task's body): claims it, exports with ultralytics in a scratch folder,
    proves the result loads and runs, and files it under MODELS_DIR. Safe to run twice: only the
    claim's winner works. Returns the final status, or None when there was nothing to do."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportStatus.PENDING).update(
        status=ExportStatus.RUNNING, started_at=timezone.now(), progress=5)
    if not claimed:
        return None
    job = ExportJob.objects.select_related("algorithm").get(pk=job_id)
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix=f"export-{job_id}-", dir=_weights_folder(job.algorithm_id)))
    try:
        source = job.algorithm.weights_path
        if source is None or not source.is_file():
            raise engine.EngineError("the algorithm's weights file is missing")
        work = scratch / f"model{source.suffix}"
        shutil.copyfile(source, work)  # ultralytics writes its output next to the source file
        device = "0" if job.format == ExportFormat.ENGINE or job.half else "cpu"
        from ultralytics import YOLO

        model = YOLO(str(work), task="detect")
        model.add_callback("on_export_start", lambda exporter: _job_progress(job_id, 20))
        kwargs = {"format": job.format, "imgsz": job.imgsz, "batch": job.batch, "device": device}
        if job.dynamic:
            kwargs["dynamic"] = True
        if job.int8:
            kwargs.update(quantize=8, data=settings.EXPORT_INT8_DATA)
        elif job.half:
            kwargs["quantize"] = 16
        output = Path(model.export(**kwargs))
        _job_progress(job_id, 80)
        # The exported file must load and run before anyone can switch to it.
        engine.Predictor(output, {"device": "cuda:0" if device == "0" else "cpu", "input_size": job.imgsz,
                                  "max_batch_size": job.batch})
        sha = sha256_of(output)
        final = _weights_folder(job.algorithm_id) / f"{sha[:16]}.{job.format}"
        os.replace(output, final)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportStatus.SUCCEEDED, progress=100, result_weights=relative_to_models(final),
            result_sha256=sha, result_size=final.stat().st_size, finished_at=timezone.now(),
            duration_s=round(time.perf_counter() - started, 2))
        return ExportStatus.SUCCEEDED
    except Exception as exc:  # noqa: BLE001 - the failure is the job's result, recorded for the user
        logger.warning("Export job %s failed: %s", job_id, exc)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now(),
            duration_s=round(time.perf_counter() - started, 2))
        return ExportStatus.FAILED
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def apply_export(job: ExportJob) -> Algorithm:
    """Switches the algorithm to a finished export's weights (the previous file stays on disk while
    another record points at it)."""
    if job.status != ExportStatus.SUCCEEDED:
        raise WrongState(f"Export {job.pk} is {job.status}; only a succeeded export can be applied.")
    path = models_dir() / job.result_weights
    if not path.is_file():
        raise WrongState(f"The exported file of export {job.pk} is missing.")
    algorithm = _switch_weights(job.algorithm_id, path, job.result_sha256, job.result_size, job.format,
                                job.algorithm.class_names)
    if job.batch > 1 and job.format == ExportFormat.ENGINE:
        # A static TensorRT engine takes exactly its export batch.
        config = {**algorithm.config, "max_batch_size": job.batch}
        Algorithm.objects.filter(pk=algorithm.pk).update(config=config)
        algorithm.refresh_from_db()
    return algorithm


# --- inference statistics ------------------------------------------------------------------------
class _StatsBuffer:
    """Per-process sums keyed by (algorithm id, day), flushed to InferenceStat every few seconds."""

    def __init__(self):
        self.lock = threading.Lock()
        self.data: dict[tuple[int, object], list] = {}
        self.last_flush = time.monotonic()
        self.timer: threading.Timer | None = None

    def add(self, key, calls: int, frames: int, errors: int, total_ms: float, per_frame: float | None) -> None:
        row = self.data.get(key)
        if row is None:
            self.data[key] = [calls, frames, errors, total_ms, per_frame, per_frame]
            return
        row[0] += calls
        row[1] += frames
        row[2] += errors
        row[3] += total_ms
        if per_frame is not None:
            row[4] = per_frame if row[4] is None else min(row[4], per_frame)
            row[5] = per_frame if row[5] is None else max(row[5], per_frame)


_stats = _StatsBuffer()


def record_inference(algorithm_id: int, frames: int, elapsed_ms: float, errors: int = 0) -> None:
    """Counts one predict call of ``frames`` frames that took ``elapsed_ms`` (``errors``: failed calls).
    Cheap: sums in memory, and writes to the database at most every INFERENCE_STATS_FLUSH_SECONDS."""
    frames, errors = max(0, int(frames)), max(0, int(errors))
    if frames:
        from aimonitor import metrics

        metrics.observe_inference_ms(algorithm_id, elapsed_ms, frames)  # Prometheus: in-process, cheap
    per_frame = (elapsed_ms / frames) if frames else None
    key = (int(algorithm_id), timezone.localdate())
    with _stats.lock:
        _stats.add(key, 1, frames, errors, float(elapsed_ms) if frames else 0.0, per_frame)
        due = time.monotonic() - _stats.last_flush >= settings.INFERENCE_STATS_FLUSH_SECONDS
        if not due and _stats.timer is None:
            # A worker that goes idle still writes its last numbers, a flush interval later.
            _stats.timer = threading.Timer(settings.INFERENCE_STATS_FLUSH_SECONDS, _flush_in_thread)
            _stats.timer.daemon = True
            _stats.timer.start()
    if due:
        flush_inference_stats()


def _flush_in_thread() -> None:
    from django.db import connection

    with _stats.lock:
        _stats.timer = None
    try:
        flush_inference_stats()
    finally:
        connection.close()  # this thread's own connection


def cancel_pending_flush() -> None:
    """Stops the idle-flush timer of this process (tests, shutdown)."""
    with _stats.lock:
        timer, _stats.timer = _stats.timer, None
    if timer is not None:
        timer.cancel()


def flush_inference_stats() -> int:
    """Writes this process's pending sums to the database; returns the number of rows touched. Sums
    that cannot be written (database down) are kept for the next flush."""
    with _stats.lock:
        pending, _stats.data = _stats.data, {}
        _stats.last_flush = time.monotonic()
    written = 0
    for key, row in pending.items():
        try:
            written += _write_stat(key, *row)
        except Exception:  # noqa: BLE001 - keep the numbers for the next try
            logger.exception("Could not write inference statistics for %s", key)
            with _stats.lock:
                _stats.add(key, *row[:4], row[4])
                if row[5] is not None:
                    _stats.add(key, 0, 0, 0, 0.0, row[5])
    return written


def _write_stat(key, calls, frames, errors, total_ms, min_ms, max_ms) -> int:
    algorithm_id, day = key
    if not Algorithm.objects.filter(pk=algorithm_id).exists():
        return 0  # deleted meanwhile: its statistics went with it
    updates = {"calls": F("calls") + calls, "frames": F("frames") + frames, "errors": F("errors") + errors,
               "total_ms": F("total_ms") + total_ms, "updated_at": timezone.now()}
    if min_ms is not None:
        # LEAST/GREATEST treat NULL differently on SQLite and PostgreSQL: coalesce first.
        updates["min_ms"] = Least(Coalesce(F("min_ms"), Value(min_ms), output_field=FloatField()), Value(min_ms))
        updates["max_ms"] = Greatest(Coalesce(F("max_ms"), Value(max_ms), output_field=FloatField()), Value(max_ms))
    for _ in range(2):
        if InferenceStat.objects.filter(algorithm_id=algorithm_id, day=day).update(**updates):
            return 1
        try:
            with transaction.atomic():
                InferenceStat.objects.create(algorithm_id=algorithm_id, day=day, calls=calls, frames=frames,
                                             errors=errors, total_ms=total_ms, min_ms=min_ms, max_ms=max_ms)
            return 1
        except IntegrityError:
            continue  # another worker created the day's row first: add to it
    return 0


def _flush_at_exit() -> None:
    try:
        flush_inference_stats()
    except Exception:  # noqa: BLE001 - the interpreter is going away; log and let it go
        logger.warning("Unflushed inference statistics were lost at exit", exc_info=True)


atexit.register(_flush_at_exit)


def _metric_row(calls, frames, errors, total_ms, min_ms, max_ms) -> dict:
    calls, frames, errors, total_ms = calls or 0, frames or 0, errors or 0, total_ms or 0.0
    return {
        "total_calls": calls,
        "total_frames": frames,
        "total_errors": errors,
        "error_rate": round(errors / calls, 4) if calls else 0.0,
        "avg_processing_ms": round(total_ms / frames, 3) if frames else None,
        "min_processing_ms": round(min_ms, 3) if min_ms is not None else None,
        "max_processing_ms": round(max_ms, 3) if max_ms is not None else None,
        "avg_fps": round(frames * 1000.0 / total_ms, 3) if total_ms else None,
    }


def algorithm_metrics(algorithm: Algorithm, period: str = "7d") -> dict:
    """Processing time (per frame: average, fastest, slowest call), throughput, calls and error rate
    over the period, and the same per day, from the recorded statistics."""
    if period not in METRIC_PERIODS:
        raise AlgorithmError(f"period must be one of {', '.join(METRIC_PERIODS)}.", field="period")
    flush_inference_stats()  # this process's own pending numbers count too
    rows = InferenceStat.objects.filter(algorithm=algorithm)
    days = METRIC_PERIODS[period]
    since = None
    if days:
        since = timezone.localdate() - timedelta(days=days - 1)
        rows = rows.filter(day__gte=since)
    totals = rows.aggregate(calls=Sum("calls"), frames=Sum("frames"), errors=Sum("errors"), total_ms=Sum("total_ms"),
                            min_ms=Min("min_ms"), max_ms=Max("max_ms"))
    series = [{"date": row.day.isoformat(), **_metric_row(row.calls, row.frames, row.errors, row.total_ms,
                                                          row.min_ms, row.max_ms)}
              for row in rows.order_by("day")]
    return {"algorithm_id": algorithm.pk, "period": period, "since": since.isoformat() if since else None,
            **_metric_row(totals["calls"], totals["frames"], totals["errors"], totals["total_ms"],
                          totals["min_ms"], totals["max_ms"]),
            "series": series}
