"""The FAISS face index: exact and HNSW search, deletes, library filtering, and consistency across
processes through the version stamp in the cache."""
from __future__ import annotations

import numpy as np
import pytest

from faces import index as index_module
from faces.index import FaceIndex, LibraryIndex
from faces.models import Face, FaceLibrary
from tests.faces.conftest import make_faces, random_vectors

pytestmark = pytest.mark.django_db


def exact_top(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ query
    order = np.lexsort((ids, -scores))[:k]
    return ids[order].tolist()


def test_exact_search_orders_by_similarity_like_brute_force(library):
    vectors = random_vectors(300, seed=1)
    faces = make_faces(library, vectors)
    ids = np.array([f.pk for f in faces])
    idx = FaceIndex()
    queries = random_vectors(5, seed=2)
    for query, hits in zip(queries, idx.search(queries, libraries=[library.pk], k=10), strict=True):
        assert [h.face_id for h in hits] == exact_top(vectors, ids, query, 10)
        sims = [h.similarity for h in hits]
        assert sims == sorted(sims, reverse=True)
        assert np.allclose(sims, np.sort(vectors @ query)[::-1][:10], atol=1e-5)


def test_an_exact_vector_is_its_own_best_match_with_similarity_one(library):
    vectors = random_vectors(50, seed=3)
    faces = make_faces(library, vectors)
    [[best, *_]] = FaceIndex().search(vectors[17], libraries=None, k=3)
    assert best.face_id == faces[17].pk and best.library_id == library.pk
    assert best.similarity == pytest.approx(1.0, abs=1e-5)


def test_search_is_filtered_by_library(library, watchlist):
    staff = make_faces(library, random_vectors(20, seed=4), "s")
    listed = make_faces(watchlist, random_vectors(20, seed=5), "w")
    idx = FaceIndex()
    query = random_vectors(1, seed=6)
    assert {h.face_id for h in idx.search(query, libraries=[library.pk], k=50)[0]} == {f.pk for f in staff}
    assert {h.face_id for h in idx.search(query, libraries=[watchlist.pk], k=50)[0]} == {f.pk for f in listed}
    assert len(idx.search(query, libraries=None, k=50)[0]) == 40
    assert idx.search(query, libraries=[999999], k=5) == [[]]


def test_deleted_faces_leave_the_index_at_once(library, committed):
    from faces import services

    vectors = random_vectors(30, seed=7)
    faces = make_faces(library, vectors)
    idx = index_module.get_index()
    assert idx.size(library.pk) == 30
    with committed():
        services.delete_faces(faces[:10])
    assert idx.size(library.pk) == 20
    returned = {h.face_id for h in idx.search(vectors[:10], libraries=None, k=30)[0]}
    assert returned.isdisjoint({f.pk for f in faces[:10]})
    assert idx.search(vectors[5], libraries=None, k=1)[0][0].face_id != faces[5].pk
    assert Face.objects.count() == 20


@pytest.mark.parametrize("kind", ["pq-refine", "hnsw"])
def test_a_large_library_switches_to_an_approximate_index_with_high_recall(settings, library, kind):
    settings.FACES_INDEX_EXACT_MAX = 1000
    settings.FACES_INDEX_KIND = kind
    vectors = random_vectors(3000, seed=8)
    faces = make_faces(library, vectors)
    ids = np.array([f.pk for f in faces])
    idx = FaceIndex()
    assert idx.is_approximate(library.pk)
    queries = random_vectors(50, seed=9)
    hits = idx.search(queries, libraries=[library.pk], k=10)
    recall = np.mean([len({h.face_id for h in row} & set(exact_top(vectors, ids, q, 10))) / 10
                      for q, row in zip(queries, hits, strict=True)])
    assert recall >= 0.95
    for row in hits:
        sims = [h.similarity for h in row]
        assert sims == sorted(sims, reverse=True) and len(sims) == 10


@pytest.mark.parametrize("kind", ["pq-refine", "hnsw"])
def test_approximate_deletes_are_filtered_and_a_rebuild_drops_them(kind):
    sub = LibraryIndex(exact_max=100, kind=kind, hnsw_m=16, ef_construction=40, ef_search=64)
    vectors = random_vectors(1500, seed=10)
    sub.add(np.arange(1, 1501), vectors)
    assert sub.approximate and len(sub) == 1500
    sub.remove([1, 2, 3])
    scores, ids = sub.search(vectors[:4], 5)
    assert not ({1, 2, 3} & set(ids.ravel().tolist()))
    assert ids[3][0] == 4 and scores[3][0] == pytest.approx(1.0, abs=1e-4)
    assert len(sub) == 1497 and sub.deleted == {1, 2, 3}
    sub.add(np.arange(1501, 1511), random_vectors(10, seed=11))  # adds keep working on a trained index
    assert len(sub) == 1507
    sub.remove(range(4, 1400))  # past the rebuild point: back to an exact index of what is left
    assert len(sub) == 111 and not sub.deleted and not sub.approximate and sub.exact_max == 1000
    _, ids = sub.search(vectors[1450:1451], 1)
    assert ids[0][0] == 1451


def test_an_unknown_index_kind_is_refused():
    with pytest.raises(ValueError, match="unknown index kind"):
        LibraryIndex(exact_max=10, kind="lsh")


def test_a_change_in_another_process_is_noticed_through_the_version_stamp(library, committed):
    """GIVEN two processes' indexes (sharing the database and the cache) both loaded
    WHEN one of them enrolls and deletes faces
    THEN the other reloads before its next search and sees exactly the same faces."""
    from faces import services

    vectors = random_vectors(10, seed=11)
    faces = make_faces(library, vectors)
    server, worker = FaceIndex(), FaceIndex()
    assert server.size() == worker.size() == 10
    loads = worker.reloads
    new = make_faces(library, random_vectors(1, seed=12), "new")[0]
    server.added([(new.pk, library.pk, services.vector_from_bytes(new.vector))])
    Face.objects.filter(pk=faces[0].pk).delete()
    server.removed([faces[0].pk])
    assert server.reloads == 1, "its own changes are patched in place"
    top = worker.search(services.vector_from_bytes(new.vector), libraries=None, k=1)[0][0]
    assert top.face_id == new.pk
    assert worker.reloads == loads + 1
    assert faces[0].pk not in {h.face_id for h in worker.search(vectors[0], libraries=None, k=11)[0]}


def test_concurrent_changes_make_the_second_writer_reload(library):
    make_faces(library, random_vectors(5, seed=13))
    first, second = FaceIndex(), FaceIndex()
    first.size(), second.size()
    a = make_faces(library, random_vectors(1, seed=14), "a")[0]
    first.added([(a.pk, library.pk, random_vectors(1, seed=14)[0])])
    b = make_faces(library, random_vectors(1, seed=15), "b")[0]
    second.added([(b.pk, library.pk, random_vectors(1, seed=15)[0])])
    # The second writer's copy missed the first change, so it is stale and reloads both.
    assert second.version is None
    assert second.size() == 7 and first.size() == 7


def test_a_flushed_cache_makes_every_process_reload(library):
    from django.core.cache import cache

    make_faces(library, random_vectors(3, seed=16))
    idx = FaceIndex()
    idx.size()
    before = idx.reloads
    cache.delete(index_module.VERSION_KEY)
    make_faces(library, random_vectors(2, seed=17), "late")
    assert idx.size() == 5 and idx.reloads == before + 1


def test_an_empty_database_gives_empty_results():
    FaceLibrary.objects.create(name="empty")
    assert FaceIndex().search(random_vectors(2), libraries=None, k=5) == [[], []]
