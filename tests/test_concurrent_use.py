"""Searches while the same collection is written, in threads of one process (real FAISS, BM25
and SQLite; random unit vectors instead of the embedder, so writes come fast)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from retrieval.search.hybrid import SearchParams, hybrid_search
from retrieval.store.collection import Collection
from retrieval.types import Chunk

DIMENSION = 384
WORDS = "tariff glacier election harbour vaccine orbit wheat copper river festival".split()


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _put(collection: Collection, rng: np.random.Generator, title: str, n: int) -> None:
    chunks = [Chunk(i, i, 0, 10, f"{WORDS[i % len(WORDS)]} report number {i} {title}")
              for i in range(n)]
    vectors = _vectors(rng, n)
    with collection.writing():
        _, added, removed = collection.store.put_article(
            title=title, source="test", content_hash=f"{title}-{rng.integers(1 << 62)}",
            text="x", chunks=chunks, vectors=vectors, added_by=None)
        collection.apply(added, vectors, removed)


def _remove(collection: Collection, title: str) -> None:
    with collection.writing():
        info = collection.store.article_by_title(title)
        if info is not None:
            removed = collection.store.delete_article(info.id)
            collection.apply([], np.zeros((0, DIMENSION), np.float32), removed)


def test_searches_during_reuploads_and_removals_never_fail(tmp_path: Path) -> None:
    collection = Collection(tmp_path / "c", "stress", DIMENSION)
    rng = np.random.default_rng(1)
    _put(collection, rng, "steady", 40)
    errors: list[BaseException] = []
    searches = [0]
    stop = threading.Event()

    def search() -> None:
        local = np.random.default_rng(threading.get_ident() % 1000)
        params = SearchParams(k=4, candidates=30)
        while not stop.is_set():
            try:
                query = _vectors(local, 1)[0]
                passages = hybrid_search(collection, query, "tariff glacier report", params)
                # Passages of a chunk deleted meanwhile are dropped; the rest are whole.
                assert all(p.text and p.title in ("steady", "moving") for p in passages)
                searches[0] += 1
            except BaseException as exc:
                errors.append(exc)
                stop.set()

    readers = [threading.Thread(target=search) for _ in range(2)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + 6.0
    writes = 0
    try:
        while time.monotonic() < deadline and not stop.is_set():
            _put(collection, rng, "moving", int(rng.integers(50, 450)))
            if writes % 3 == 2:
                _remove(collection, "moving")
            writes += 1
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not errors, repr(errors[0])
    assert writes >= 3 and searches[0] >= 10
    ids = collection.store.chunk_ids()
    assert np.array_equal(collection.dense.ids(), ids)
    assert np.array_equal(np.sort(collection.sparse.ids), ids)
    collection.close()


def test_two_writers_checking_the_directory_at_once_do_not_trip_each_other(
    tmp_path: Path,
) -> None:
    first = Collection(tmp_path / "c", "probe", DIMENSION)
    second = Collection(tmp_path / "c", "probe", DIMENSION)  # as another process would
    errors: list[BaseException] = []

    def check(collection: Collection) -> None:
        for _ in range(1500):
            try:
                collection.check_writable()
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=check, args=(c,)) for c in (first, second, first)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, repr(errors[0])
    first.close()
    second.close()
