"""Face library benchmark: vector search at scale, per-face extraction, and enrolling faces.

1. Search: N random L2-normalised 128-d vectors in the production index class (``faces.index.LibraryIndex``:
   exact IndexFlatIP up to FACES_INDEX_EXACT_MAX, PQ fast-scan + exact re-rank above, or HNSW with
   ``--kind hnsw``), against exact brute-force search
   (IndexFlatIP) as the baseline in the same run: build time, single-query latency p50/p95 and
   recall@10 of the index against the exact top 10.
2. Extraction: detect (YuNet) and align + feature (SFace) per face on the astronaut picture, median ms.
3. Enroll: ``faces.services.enroll`` on distinct crops of the astronaut (detection, extraction, image and
   crop files, database row, index update), against extraction alone as the baseline.

    .venv/bin/python bench/bench_faces.py --quick          # 10k + 100k vectors, 200 enrollments
    .venv/bin/python bench/bench_faces.py --sizes 10000,100000,1000000 --enroll 1000   # the full run
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    var = Path(tempfile.mkdtemp(prefix="aimonitor-bench-"))
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("AIMONITOR_VAR_DIR", str(var))
    os.environ.setdefault("LOG_TO_FILES", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimonitor.settings")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    import django

    django.setup()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def random_unit(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((count, 128), np.float32)
    for start in range(0, count, 100_000):  # in chunks: keeps the float64 temporaries small
        chunk = rng.standard_normal((min(100_000, count - start), 128)).astype(np.float32)
        out[start:start + len(chunk)] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def bench_search(size: int, queries: int, kind: str, knobs: list[int]) -> None:
    import faiss
    from django.conf import settings

    from faces.index import LibraryIndex

    vectors = random_unit(size, seed=size)
    ids = np.arange(1, size + 1, dtype=np.int64)
    probe = random_unit(queries, seed=7)

    started = time.perf_counter()
    exact = faiss.IndexFlatIP(128)
    exact.add(vectors)
    exact_build = time.perf_counter() - started
    exact_times, truth = [], []
    for q in probe:
        t0 = time.perf_counter()
        _, found = exact.search(q.reshape(1, -1), 10)
        exact_times.append((time.perf_counter() - t0) * 1000)
        truth.append(set((found[0] + 1).tolist()))

    index = LibraryIndex(exact_max=settings.FACES_INDEX_EXACT_MAX, kind=kind, hnsw_m=settings.FACES_HNSW_M,
                         ef_construction=settings.FACES_HNSW_EF_CONSTRUCTION, ef_search=settings.FACES_HNSW_EF_SEARCH,
                         pq_m=settings.FACES_PQ_M, k_factor=settings.FACES_PQ_K_FACTOR)
    started = time.perf_counter()
    index.add(ids, vectors)
    build = time.perf_counter() - started
    if not index.approximate:
        described, knobs = "exact IndexFlatIP (below FACES_INDEX_EXACT_MAX)", [0]
    elif kind == "hnsw":
        described = f"HNSW M={settings.FACES_HNSW_M} efConstruction={settings.FACES_HNSW_EF_CONSTRUCTION}"
    else:
        described = f"PQ{settings.FACES_PQ_M}x4 fast-scan + exact re-rank"
    print(f"\n## search, {size:,} vectors: index = {described}; baseline = exact IndexFlatIP")
    print(f"build: index {build:.1f} s, exact {exact_build:.2f} s; {queries} single-vector queries, k=10")
    print(f"{'variant':<26}{'p50 ms':>9}{'p95 ms':>9}{'recall@10':>11}{'p50 speed-up':>14}")
    exact_p50 = statistics.median(exact_times)
    print(f"{'exact (baseline)':<26}{exact_p50:>9.3f}{percentile(exact_times, 95):>9.3f}{1.0:>11.3f}{1.0:>13.2f}x")
    for knob in knobs:
        if knob and kind == "hnsw":
            index.ef_search, label = knob, f"index efSearch={knob}"
        elif knob:
            index.k_factor, label = knob, f"index k_factor={knob}"
        else:
            label = "index (exact)"
        times, recall = [], []
        for q, expected in zip(probe, truth, strict=True):
            t0 = time.perf_counter()
            _, found = index.search(q.reshape(1, -1), 10)
            times.append((time.perf_counter() - t0) * 1000)
            recall.append(len(expected & set(found[0].tolist())) / 10)
        p50 = statistics.median(times)
        print(f"{label:<26}{p50:>9.3f}{percentile(times, 95):>9.3f}{np.mean(recall):>11.3f}{exact_p50 / p50:>13.2f}x")
    del index, exact, vectors


def astronaut_variants(count: int) -> list[bytes]:
    """Distinct JPEGs of the astronaut: random crops around the face, scales and flips."""
    import cv2

    from tests import media

    base = media.astronaut_image()
    rng = np.random.default_rng(3)
    out = []
    for _ in range(count):
        x0, y0 = int(rng.integers(0, 120)), int(rng.integers(0, 40))
        crop = base[y0:y0 + 320, x0:x0 + 340]
        scale = float(rng.uniform(0.8, 1.4))
        image = cv2.resize(crop, None, fx=scale, fy=scale)
        if rng.random() < 0.5:
            image = cv2.flip(image, 1)
        out.append(media.jpeg_bytes(image))
    return out


def bench_faces(enroll_count: int, repeats: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from faces import engine, services
    from faces.models import FaceLibrary
    from tests import media

    image = media.astronaut_image()
    eng = engine.get_engine()
    eng.detect(image)
    detect_times, extract_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        [detection] = eng.detect(image)
        t1 = time.perf_counter()
        eng.extract(image, detection)
        t2 = time.perf_counter()
        detect_times.append((t1 - t0) * 1000)
        extract_times.append((t2 - t1) * 1000)
    print(f"\n## extraction (astronaut 512x512, {repeats} runs)")
    print(f"detect (YuNet) p50 {statistics.median(detect_times):.1f} ms; align + feature (SFace) per face "
          f"p50 {statistics.median(extract_times):.1f} ms, p95 {percentile(extract_times, 95):.1f} ms")

    call_command("migrate", verbosity=0)
    library = FaceLibrary.objects.create(name="bench")
    images = astronaut_variants(enroll_count)
    baseline = []
    for data in images[: min(50, enroll_count)]:
        t0 = time.perf_counter()
        decoded, _ = services.decode_image(data)
        services.extract_face(decoded, pick_largest=True)
        baseline.append((time.perf_counter() - t0) * 1000)
    started = time.perf_counter()
    per_face = []
    for data in images:
        t0 = time.perf_counter()
        services.enroll(library=library, name="astro", person_id="a", image_bytes=data, pick_largest=True)
        per_face.append((time.perf_counter() - t0) * 1000)
    total = time.perf_counter() - started
    print(f"\n## enroll {enroll_count} faces ({connection.vendor}; files on local disk)")
    print(f"total {total:.1f} s; per face p50 {statistics.median(per_face):.1f} ms, "
          f"p95 {percentile(per_face, 95):.1f} ms; decode + extract alone (baseline) "
          f"p50 {statistics.median(baseline):.1f} ms -> enroll/extract "
          f"{statistics.median(per_face) / statistics.median(baseline):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated index sizes (add 1000000)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--kind", default=None, help="approximate index kind (default: FACES_INDEX_KIND)")
    parser.add_argument("--knobs", default=None,
                        help="k_factor values (pq-refine, default 20,50,100) or efSearch values (hnsw, 64,128,256)")
    parser.add_argument("--threads", type=int, default=None, help="FAISS threads (default: FACES_FAISS_THREADS)")
    parser.add_argument("--enroll", type=int, default=1000, help="faces to enroll (0 to skip)")
    parser.add_argument("--repeats", type=int, default=50, help="runs of the extraction timing")
    parser.add_argument("--quick", action="store_true", help="10k and 100k vectors, 200 enrollments")
    parser.add_argument("--skip-faces", action="store_true", help="only the vector search part")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.enroll, args.queries = "10000,100000", 200, 300
    if args.threads is not None:
        os.environ["FACES_FAISS_THREADS"] = str(args.threads)
    setup_django()
    import faiss
    from django.conf import settings

    from faces.index import configure_threads

    configure_threads()
    kind = args.kind or settings.FACES_INDEX_KIND
    knobs = args.knobs or ("64,128,256" if kind == "hnsw" else "20,50,100")
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} thread(s), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    for size in (int(s) for s in args.sizes.split(",") if s):
        bench_search(size, args.queries, kind, [int(k) for k in knobs.split(",") if k])
    if not args.skip_faces:
        bench_faces(args.enroll, args.repeats)


if __name__ == "__main__":
    main()
