"""``articlebot bench``'s search figures: hybrid search over real collections of 1k, 10k and
100k chunks (real chunk texts, random unit vectors: no model embeds them), in either store.

With SQLite the collection lives in a temporary directory. With PostgreSQL it is a
collection of its own in the database (``<prefix>-<size>``), dropped afterwards, and two
more figures come with it: the generation check a host makes before every search (one
``SELECT``), and design (b), searching PostgreSQL directly (``pgvector_search``), exact and
through HNSW, on the very same rows.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.evaluation.metrics import percentile
from retrieval.store.backend import Store

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.search.hybrid import SearchParams
    from retrieval.store.collection import Collection
    from retrieval.store.postgres import PostgresBackend

Progress = Callable[[Sequence[Any], str], Iterator[Any]]
GENERATION_CHECKS = 200


def _ms(values: Sequence[float]) -> tuple[float, float]:
    return round(1000 * percentile(values, 50), 2), round(1000 * percentile(values, 95), 2)


def _fill(store: Store, size: int, texts: Sequence[str], seed: int, dimension: int) -> None:
    from retrieval.types import Chunk

    rng = np.random.default_rng(seed)
    per_article = 200
    for first in range(0, size, per_article):
        n = min(per_article, size - first)
        body = [texts[(first + i) % len(texts)] for i in range(n)]
        vectors = rng.standard_normal((n, dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = [Chunk(i, i, 0, len(t), t) for i, t in enumerate(body)]
        store.put_article(title=f"Synthetic {first}", source="bench", content_hash=str(first),
                          text="\n\n".join(body), chunks=chunks, vectors=vectors, added_by=None)


def synthetic_collection(directory: Path, size: int, texts: Sequence[str], seed: int,
                         dimension: int, backend: PostgresBackend | None = None,
                         name: str = "bench") -> Collection:
    """A real collection (store, FAISS, BM25) of ``size`` chunks: real texts, random vectors;
    in SQLite under ``directory``, or in PostgreSQL as ``name``."""
    from retrieval.store.collection import STORE_FILE, Collection
    from retrieval.store.sqlite import Store as SqliteStore

    if backend is None:
        store: Store = SqliteStore(directory / STORE_FILE)
    else:
        store = backend.open(directory, name, lock_timeout_s=30.0, faults=None)
    _fill(store, size, texts, seed, dimension)
    store.close()
    return Collection(directory, name, dimension, backend=backend)


def time_generation_check(store: Store) -> float:
    """The median time of ``store.generation()``, in ms: what every search pays first."""
    store.generation()
    timings = []
    for _ in range(GENERATION_CHECKS):
        started = time.perf_counter()
        store.generation()
        timings.append(time.perf_counter() - started)
    return _ms(timings)[0]


def _dense_ids(rows: Sequence[tuple[Any, ...]]) -> set[int]:
    return {int(r[0]) for r in rows if r[9]}


def time_direct(backend: PostgresBackend, name: str, size: int, vectors: np.ndarray,
                queries: Sequence[str], params: SearchParams, progress: Progress
                ) -> dict[str, Any]:
    """Design (b) on collection ``name``: exact pgvector + full text, then with HNSW (its
    build time, and the share of the exact dense candidates it finds)."""
    from retrieval.evaluation.pgvector_search import DirectSearch

    pairs = list(zip(vectors, queries))
    report: dict[str, Any] = {}
    with DirectSearch(backend.db, [name], vectors.shape[1]) as direct:
        exact = [_dense_ids(direct.rows(name, v, q, params.candidates)) for v, q in pairs]
        for label in ("pgvector", "pgvector_hnsw"):
            if label == "pgvector_hnsw":
                report[f"hnsw_build_{size}_s"] = round(direct.add_hnsw(), 1)
                found = [len(_dense_ids(direct.rows(name, v, q, params.candidates)) & e)
                         / max(1, len(e)) for (v, q), e in zip(pairs, exact)]
                report[f"pgvector_hnsw_{size}_recall"] = round(float(np.mean(found)), 3)
            for vector, query in pairs[:5]:  # warm caches
                direct.search(name, vector, query, params)
            timings = []
            for vector, query in progress(pairs, f"{label} {size}"):
                started = time.perf_counter()
                direct.search(name, vector, query, params)
                timings.append(time.perf_counter() - started)
            report[f"{label}_{size}_p50_ms"], report[f"{label}_{size}_p95_ms"] = _ms(timings)
    return report


def bench_search(engine: Engine, texts: Sequence[str], queries: Sequence[str],
                 sizes: Sequence[int], progress: Progress, *,
                 backend: PostgresBackend | None = None, prefix: str = "bench"
                 ) -> dict[str, Any]:
    """Hybrid search p50/p95 per size (``search_<size>_p50_ms``); with PostgreSQL also the
    generation check and design (b)."""
    from retrieval.search.hybrid import SearchParams, hybrid_search

    params = SearchParams.from_settings(engine.settings.search)
    timings: list[float] = []
    for q in queries[:50]:
        started = time.perf_counter()
        engine.embedder.embed_query(q)
        timings.append(time.perf_counter() - started)
    report: dict[str, Any] = {"embed_query_p50_ms": _ms(timings)[0]}
    vectors = engine.embedder.embed(list(queries))
    for size in sizes:
        name = f"{prefix}-{size}" if backend is not None else "bench"
        with tempfile.TemporaryDirectory(prefix="articlebot-search-") as tmp:
            collection = synthetic_collection(Path(tmp), size, texts, size, vectors.shape[1],
                                              backend, name)
            try:
                for vector, query in zip(vectors[:5], queries[:5]):  # warm caches
                    hybrid_search(collection, vector, query, params)
                timings = []
                for vector, query in progress(list(zip(vectors, queries)), f"search {size}"):
                    started = time.perf_counter()
                    hybrid_search(collection, vector, query, params)
                    timings.append(time.perf_counter() - started)
                report[f"search_{size}_p50_ms"], report[f"search_{size}_p95_ms"] = _ms(timings)
                if backend is not None:
                    report.update(time_direct(backend, name, size, vectors, queries, params,
                                              progress))
            finally:
                collection.close()
                if backend is not None:
                    backend.drop(Path(tmp), name, engine.settings.storage.lock_timeout_s)
    return report
