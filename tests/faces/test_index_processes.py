"""The index stays consistent across real processes: a second Django process (a worker) notices
enrollments and deletions made by this one through the version stamp in Redis, and reloads.

Needs the shared services a real deployment has (PostgreSQL and Redis, as in CI); skipped on the
embedded SQLite + local-memory set-up, where no second process can share the data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from faces import services
from faces.models import FaceLibrary
from tests.faces.conftest import make_faces, random_vectors

ROOT = Path(__file__).resolve().parents[2]

WORKER = r"""
import json, os, sys
import django
django.setup()
import numpy as np
from faces.index import get_index
from faces.services import vector_from_bytes
from faces.models import Face
index = get_index()
print(json.dumps({"size": index.size()}), flush=True)
for line in sys.stdin:
    query = np.frombuffer(bytes.fromhex(line.strip()), "<f4")
    hits = index.search(query, libraries=None, k=3)[0]
    print(json.dumps({"size": index.size(), "top": [h.face_id for h in hits], "reloads": index.reloads}), flush=True)
"""


def needs_shared_services():
    if not os.environ.get("REDIS_URL") or connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")


@pytest.mark.requires_redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_sees_enrollments_and_deletes_made_by_the_server():
    needs_shared_services()
    library = FaceLibrary.objects.create(name="shared")
    faces = make_faces(library, random_vectors(20, seed=21))
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aimonitor.settings", "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    worker = subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert json.loads(worker.stdout.readline()) == {"size": 20}
        # This process enrolls a real face and deletes another, each committed.
        enrolled = services.enroll(library=library, name="astro", person_id="a",
                                   image_bytes=_astronaut_jpeg())
        services.delete_faces([faces[0]])
        worker.stdin.write(bytes(enrolled.vector).hex() + "\n")
        worker.stdin.flush()
        answer = json.loads(worker.stdout.readline())
        assert answer["size"] == 20  # 20 + 1 enrolled - 1 deleted
        assert answer["top"][0] == enrolled.pk
        assert answer["reloads"] == 2  # its first load, then one reload for the changes
        worker.stdin.write(bytes(faces[0].vector).hex() + "\n")
        worker.stdin.flush()
        answer = json.loads(worker.stdout.readline())
        assert faces[0].pk not in answer["top"] and answer["reloads"] == 2
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)


def _astronaut_jpeg() -> bytes:
    from tests import media

    return media.jpeg_bytes(media.astronaut_image())
