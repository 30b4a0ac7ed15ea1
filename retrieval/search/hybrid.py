"""Hybrid search: dense (FAISS) and BM25 candidates, fused, then looked up in SQLite.

Whether the passages answer the question at all is decided in ``retrieval.search.gate``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from config.settings import SearchSettings
from retrieval.store.collection import Collection
from retrieval.types import Passage


@dataclass(frozen=True)
class SearchParams:
    k: int = 4
    candidates: int = 30
    fusion: str = "weighted"  # or "rrf"
    rrf_k: int = 60
    dense_weight: float = 0.7

    @classmethod
    def from_settings(cls, cfg: SearchSettings, k: int | None = None) -> SearchParams:
        """The ``[search]`` settings; ``k`` asks for more (or fewer) passages than
        ``top_k``, with at least as many candidates."""
        return cls(k or cfg.top_k, max(cfg.candidates, k or 0), cfg.fusion, cfg.rrf_k,
                   cfg.dense_weight)


def reciprocal_rank_fusion(ranked: list[np.ndarray], k: int) -> dict[int, float]:
    """Each ranked list of ids adds ``1 / (k + rank)`` to an id's score."""
    fused: dict[int, float] = {}
    for ids in ranked:
        for rank, chunk_id in enumerate(ids):
            fused[int(chunk_id)] = fused.get(int(chunk_id), 0.0) + 1.0 / (k + rank + 1)
    return fused


def hybrid_search(
    collection: Collection,
    query_vector: np.ndarray,
    query_text: str,
    params: SearchParams,
    allowed: np.ndarray | None = None,
) -> list[Passage]:
    """The ``params.k`` best passages; ``Passage.dense`` is the exact cosine to the query."""
    view = collection.view()  # one version of both indexes for the whole search
    dense_scores, dense_ids = view.dense.search(query_vector, params.candidates, allowed)
    sparse_scores, sparse_ids = view.sparse.search(query_text, params.candidates, allowed)
    union = list(dict.fromkeys([*map(int, dense_ids), *map(int, sparse_ids)]))
    if not union:
        return []
    cosine = dict(zip(map(int, dense_ids), map(float, dense_scores)))
    missing = [i for i in union if i not in cosine]
    cosine.update(zip(missing, map(float, view.dense.similarity(query_vector, missing))))

    if params.fusion == "rrf":
        fused = reciprocal_rank_fusion([dense_ids, sparse_ids], params.rrf_k)
    else:
        top_bm25 = float(sparse_scores[0]) if len(sparse_scores) else 0.0
        bm25 = dict(zip(map(int, sparse_ids), map(float, sparse_scores)))
        # Without a BM25 score (not among its candidates) a chunk gets BM25's floor: zero.
        fused = {
            i: params.dense_weight * cosine[i]
            + (1 - params.dense_weight) * (bm25.get(i, 0.0) / top_bm25 if top_bm25 else 0.0)
            for i in union
        }
    best = sorted(union, key=lambda i: fused[i], reverse=True)[: params.k]
    stored = collection.store.chunks_by_ids(best)
    return [
        Passage(
            chunk_id=i,
            article_id=c.article_id,
            title=c.title,
            paragraph=c.paragraph,
            start=c.start,
            end=c.end,
            text=c.text,
            score=fused[i],
            dense=cosine[i],
        )
        for i in best
        if (c := stored.get(i)) is not None
    ]
