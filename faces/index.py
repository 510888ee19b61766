"""The face vector index: FAISS, one sub-index per face library, ids = Face ids.

- Vectors are L2-normalised, so inner product is cosine similarity (-1..1).
- A library holds an exact ``IndexFlatIP`` until it passes ``FACES_INDEX_EXACT_MAX`` faces, then an
  approximate index (``FACES_INDEX_KIND``): by default a 4-bit PQ fast-scan of every vector with exact
  re-ranking of the best candidates (``IndexRefineFlat(IndexPQFastScan)``), or HNSW. Each sits in an
  ``IndexIDMap2`` so FAISS returns Face ids. The approximate kinds cannot remove vectors: deleted ids
  are left out of results and the library is rebuilt once they pile up.
- The index is built from the database on first use in each process, updated in place when this
  process enrolls or deletes a face (after the commit), and kept consistent across processes by a
  version number in the cache (Redis in production): every change increments it, and a process
  whose copy is older than the cache's number reloads before it searches.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import faiss
import numpy as np
from django.conf import settings
from django.core.cache import cache

from .engine import FEATURE_DIM

VERSION_KEY = "faces:index:version"


def current_version() -> int:
    """The cache's index version. A missing key (first start, cache flushed) is created from the clock,
    so it differs from any number a running process may still hold."""
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, time.time_ns(), timeout=None)
        version = cache.get(VERSION_KEY)
    return int(version)


def bump_version() -> int:
    """Increments the cache's index version (atomically on Redis) and returns the new number."""
    try:
        return int(cache.incr(VERSION_KEY))
    except ValueError:
        cache.add(VERSION_KEY, time.time_ns(), timeout=None)
        return int(cache.incr(VERSION_KEY))


@dataclass(frozen=True)
class Hit:
    face_id: int
    library_id: int
    similarity: float


APPROXIMATE_KINDS = ("pq-refine", "hnsw")


class LibraryIndex:
    """The vectors of one library: exact below the threshold, approximate above it.

    ``pq-refine`` (default): every vector is scanned in a 4-bit product-quantised form (PQ fast-scan,
    ``pq_m`` sub-quantisers, 32 bytes a vector for 64), and the best ``k * k_factor`` candidates are
    re-ranked with their exact vectors. Its cost grows linearly but with a small constant, and its
    recall does not depend on the data having structure. ``hnsw``: a graph index, sub-linear on
    clustered data (real face vectors), slow to build and weak on uniformly random vectors.
    """

    def __init__(self, *, exact_max: int, kind: str = "pq-refine", hnsw_m: int = 32, ef_construction: int = 40,
                 ef_search: int = 128, pq_m: int = 64, k_factor: int = 50):
        if kind not in APPROXIMATE_KINDS:
            raise ValueError(f"unknown index kind {kind!r}; choose one of {APPROXIMATE_KINDS}")
        # Product quantisation trains 16 centroids per sub-space and wants ~40 points each: below a
        # thousand vectors exact search is both fast and exact anyway.
        self.exact_max = max(exact_max, 1000)
        self.kind = kind
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.pq_m = pq_m
        self.k_factor = k_factor
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(FEATURE_DIM))
        self.approximate = False
        self.deleted: set[int] = set()

    def __len__(self) -> int:
        return int(self.index.ntotal) - len(self.deleted)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, FEATURE_DIM)
        if not self.approximate and self.index.ntotal + len(ids) > self.exact_max:
            self._rebuild(extra_ids=ids, extra_vectors=vectors)
            return
        self.index.add_with_ids(vectors, ids)

    def remove(self, ids: Iterable[int]) -> None:
        ids = np.asarray(list(ids), dtype=np.int64)
        if not len(ids):
            return
        if not self.approximate:
            self.index.remove_ids(ids)
            return
        # Neither HNSW nor PQ fast-scan removes vectors: deleted ids are left out of results until
        # they pile up (past a tenth of the library or 1,000), when the library is rebuilt.
        known = set(faiss.vector_to_array(self.index.id_map).tolist())
        self.deleted.update(int(i) for i in ids if int(i) in known)
        if len(self.deleted) > min(1000, max(1, self.index.ntotal // 10)):
            self._rebuild()

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if not self.approximate:
            return self.index.search(queries, k)
        fetch = min(int(self.index.ntotal), k + len(self.deleted))
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, fetch))
        else:
            params = faiss.IndexRefineSearchParameters(k_factor=float(self.k_factor))
        scores, ids = self.index.search(queries, fetch, params=params)
        if not self.deleted:
            return scores, ids
        keep_scores = np.full((len(queries), k), -np.inf, np.float32)
        keep_ids = np.full((len(queries), k), -1, np.int64)
        for row in range(len(queries)):
            mask = ~np.isin(ids[row], np.fromiter(self.deleted, np.int64)) & (ids[row] >= 0)
            kept = np.flatnonzero(mask)[:k]
            keep_scores[row, :len(kept)], keep_ids[row, :len(kept)] = scores[row, kept], ids[row, kept]
        return keep_scores, keep_ids

    def _vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids and exact vectors held, deleted ones left out."""
        count = int(self.index.ntotal)
        ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexRefine):
            inner = faiss.downcast_index(inner.refine_index)
        vectors = inner.reconstruct_n(0, count) if count else np.zeros((0, FEATURE_DIM), np.float32)
        if self.deleted:
            keep = ~np.isin(ids, np.fromiter(self.deleted, np.int64))
            ids, vectors = ids[keep], vectors[keep]
        return ids, vectors

    def _rebuild(self, extra_ids: np.ndarray | None = None, extra_vectors: np.ndarray | None = None):
        ids, vectors = self._vectors()
        if extra_ids is not None:
            ids = np.concatenate([ids, extra_ids])
            vectors = np.concatenate([vectors, extra_vectors])
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.approximate = len(ids) > self.exact_max
        if not self.approximate:
            inner = faiss.IndexFlatIP(FEATURE_DIM)
        elif self.kind == "hnsw":
            inner = faiss.IndexHNSWFlat(FEATURE_DIM, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = self.ef_construction
            inner.hnsw.efSearch = self.ef_search
        else:
            quantiser = faiss.IndexPQFastScan(FEATURE_DIM, self.pq_m, 4, faiss.METRIC_INNER_PRODUCT)
            # 100k training vectors are plenty for 16 centroids per sub-space and keep 1M builds short.
            sample = vectors if len(vectors) <= 100_000 else vectors[
                np.random.default_rng(0).choice(len(vectors), 100_000, replace=False)]
            quantiser.train(sample)
            inner = faiss.IndexRefineFlat(quantiser)
            inner.k_factor = float(self.k_factor)
            self._quantiser = quantiser  # the refine index does not own it: keep it alive
        index = faiss.IndexIDMap2(inner)
        if len(ids):
            index.add_with_ids(vectors, ids)
        self.index, self.deleted = index, set()


def configure_threads() -> None:
    """FAISS's OpenMP threads: one by default. A single query gains little from more, and OpenMP's
    spinning threads slow everything down badly on a busy machine (searches and builds ran 10x slower
    with two threads on two shared cores)."""
    threads = settings.FACES_FAISS_THREADS
    if threads > 0:
        faiss.omp_set_num_threads(threads)


def new_library_index() -> LibraryIndex:
    return LibraryIndex(exact_max=settings.FACES_INDEX_EXACT_MAX, kind=settings.FACES_INDEX_KIND,
                        hnsw_m=settings.FACES_HNSW_M, ef_construction=settings.FACES_HNSW_EF_CONSTRUCTION,
                        ef_search=settings.FACES_HNSW_EF_SEARCH, pq_m=settings.FACES_PQ_M,
                        k_factor=settings.FACES_PQ_K_FACTOR)


class FaceIndex:
    """Every library's sub-index in this process, and the version of the data it reflects."""

    def __init__(self):
        configure_threads()
        self._lock = threading.RLock()
        self._libraries: dict[int, LibraryIndex] = {}
        self._where: dict[int, int] = {}  # face id -> library id
        self.version: int | None = None
        self.reloads = 0

    # --- reading -------------------------------------------------------------------------------
    def ensure_current(self) -> None:
        """Reloads from the database when another process (or nobody yet) changed the data."""
        version = current_version()
        if version != self.version:
            with self._lock:
                if version != self.version:
                    self._load(version)

    def search(self, vectors: np.ndarray, *, libraries: Iterable[int] | None = None, k: int = 10) -> list[list[Hit]]:
        """The ``k`` most similar faces to each query vector within ``libraries`` (None: all),
        most similar first."""
        queries = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, FEATURE_DIM))
        self.ensure_current()
        results: list[list[Hit]] = [[] for _ in range(len(queries))]
        if k <= 0 or not len(queries):
            return results
        with self._lock:
            wanted = self._libraries.keys() if libraries is None else [int(x) for x in libraries]
            for library_id in wanted:
                sub = self._libraries.get(library_id)
                if sub is None or not len(sub):
                    continue
                scores, ids = sub.search(queries, k)
                for row, (row_scores, row_ids) in enumerate(zip(scores, ids, strict=True)):
                    results[row].extend(Hit(int(i), library_id, float(s))
                                        for s, i in zip(row_scores, row_ids, strict=True) if i >= 0)
        for row in results:
            row.sort(key=lambda hit: (-hit.similarity, hit.face_id))
            del row[k:]
        return results

    def size(self, library_id: int | None = None) -> int:
        self.ensure_current()
        with self._lock:
            if library_id is not None:
                sub = self._libraries.get(library_id)
                return len(sub) if sub else 0
            return sum(len(sub) for sub in self._libraries.values())

    def is_approximate(self, library_id: int) -> bool:
        self.ensure_current()
        with self._lock:
            sub = self._libraries.get(library_id)
            return bool(sub and sub.approximate)

    # --- writing (called after the database commit) -------------------------------------------
    def added(self, items: Iterable[tuple[int, int, np.ndarray]]) -> None:
        """Faces ``(face_id, library_id, vector)`` were committed to the database."""
        items = list(items)
        self._changed(lambda: self._add(items))

    def removed(self, face_ids: Iterable[int]) -> None:
        """Faces were deleted from the database."""
        face_ids = [int(i) for i in face_ids]
        self._changed(lambda: self._remove(face_ids))

    def invalidate(self) -> None:
        """Many vectors changed (re-extraction): every process reloads."""
        with self._lock:
            bump_version()
            self.version = None

    def _changed(self, apply) -> None:
        with self._lock:
            before = self.version
            after = bump_version()
            if before is not None and after == before + 1:
                # Nobody else changed anything since this copy was loaded: patch it in place.
                apply()
                self.version = after
            else:
                self.version = None  # out of date anyway: the next search reloads

    def _add(self, items: list[tuple[int, int, np.ndarray]]) -> None:
        by_library: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
        stale = [face_id for face_id, _, _ in items if face_id in self._where]
        if stale:
            self._remove(stale)
        for face_id, library_id, vector in items:
            by_library[int(library_id)].append((int(face_id), vector))
        for library_id, rows in by_library.items():
            sub = self._libraries.setdefault(library_id, new_library_index())
            sub.add(np.array([r[0] for r in rows], np.int64), np.stack([r[1] for r in rows]))
            self._where.update((face_id, library_id) for face_id, _ in rows)

    def _remove(self, face_ids: list[int]) -> None:
        by_library: dict[int, list[int]] = defaultdict(list)
        for face_id in face_ids:
            library_id = self._where.pop(face_id, None)
            if library_id is not None:
                by_library[library_id].append(face_id)
        for library_id, ids in by_library.items():
            self._libraries[library_id].remove(ids)

    def _load(self, version: int) -> None:
        """Rebuilds every library from the database. The version is read before the rows, so a change
        committed meanwhile shows up as a newer version and triggers another reload."""
        from .models import Face

        self._libraries, self._where = {}, {}
        ids: dict[int, list[int]] = defaultdict(list)
        vectors: dict[int, list[bytes]] = defaultdict(list)
        rows = Face.objects.order_by().values_list("id", "library_id", "vector").iterator(chunk_size=5000)
        for face_id, library_id, vector in rows:
            ids[library_id].append(face_id)
            vectors[library_id].append(bytes(vector))
        for library_id, face_ids in ids.items():
            matrix = np.frombuffer(b"".join(vectors[library_id]), dtype="<f4").reshape(-1, FEATURE_DIM)
            sub = new_library_index()
            sub.add(np.asarray(face_ids, np.int64), matrix)
            self._libraries[library_id] = sub
            self._where.update((face_id, library_id) for face_id in face_ids)
        self.version = version
        self.reloads += 1


_index = FaceIndex()


def get_index() -> FaceIndex:
    """This process's index."""
    return _index
