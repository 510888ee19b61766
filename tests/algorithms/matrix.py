"""Permission matrix entries for the algorithms API (see tests/matrix.py)."""
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.matrix import READ, Endpoint, admin_write, expect, operator_write


def _algorithm(ctx, **fields):
    from algorithms.models import Algorithm, default_config

    n = Algorithm.objects.count() + 1
    return Algorithm.objects.create(**{"name": f"matrix-{n}", "config": default_config(), **fields})


def _plain(ctx):
    return {"pk": _algorithm(ctx).pk}


def _detector(ctx):
    from algorithms.services import sha256_of
    from tests.media import fall_detector_weights

    weights = fall_detector_weights()
    algorithm = _algorithm(ctx, weights=str(weights), weights_sha256=sha256_of(weights),
                           weights_size=weights.stat().st_size, class_names=["Normal", "Fall"])
    return {"pk": algorithm.pk}


def _export_job(ctx):
    from algorithms.models import ExportJob

    return {"pk": ExportJob.objects.create(algorithm=_algorithm(ctx), format="onnx").pk}


def _test_image(ctx):
    import cv2

    from tests.media import jpeg_bytes, zidane_image

    small = cv2.resize(zidane_image(), (320, 180))
    return {"test_image": SimpleUploadedFile("z.jpg", jpeg_bytes(small), "image/jpeg"), "return_image": "false"}


ENDPOINTS = [
    Endpoint("GET", "algorithms:algorithm-list", READ),
    Endpoint("POST", "algorithms:algorithm-list", admin_write(201),
             data={"name": "New detector", "version": "1", "kind": "object_detection"}),
    Endpoint("GET", "algorithms:algorithm-detail", READ, kwargs=_plain),
    Endpoint("PATCH", "algorithms:algorithm-detail", admin_write(200), kwargs=_plain,
             data={"description": "changed", "config": {"confidence_threshold": 0.5}}),
    Endpoint("PUT", "algorithms:algorithm-detail", admin_write(200), kwargs=_plain,
             data={"name": "Replaced", "version": "2", "kind": "object_detection", "framework": "ultralytics",
                   "description": "", "config": {}, "is_active": True}),
    Endpoint("DELETE", "algorithms:algorithm-detail", admin_write(204), kwargs=_plain),
    Endpoint("POST", "algorithms:algorithm-upload-model", expect(401, 403, 403, 400), kwargs=_plain,
             format="multipart", note="wrong extension",
             data=lambda ctx: {"model_file": SimpleUploadedFile("weights.txt", b"not a model")}),
    Endpoint("POST", "algorithms:algorithm-test", operator_write(200), kwargs=_detector, format="multipart",
             data=_test_image),
    Endpoint("POST", "algorithms:algorithm-start", operator_write(202), kwargs=_detector),
    Endpoint("POST", "algorithms:algorithm-stop", operator_write(200), kwargs=_detector),
    Endpoint("GET", "algorithms:algorithm-metrics", READ, kwargs=_plain, query={"period": "30d"}),
    Endpoint("POST", "algorithms:algorithm-export", admin_write(202), kwargs=_detector,
             data={"format": "onnx", "imgsz": 320}, note="queued, runs after commit"),
    Endpoint("GET", "algorithms:algorithm-export-list", READ),
    Endpoint("GET", "algorithms:algorithm-export-detail", READ, kwargs=_export_job),
    Endpoint("POST", "algorithms:algorithm-export-apply", expect(401, 403, 403, 409), kwargs=_export_job,
             note="not finished yet"),
]
