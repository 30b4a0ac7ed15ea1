"""Retrieval of the two several-hosts designs on SQuAD-style data, on PostgreSQL.

(a) the bot's: FAISS and BM25 caches per collection on each host (``hybrid_search``);
(b) asking PostgreSQL (``pgvector_search.DirectSearch``), exact and through HNSW. The same
stored chunks and vectors, the same question vectors, the same fusion settings; scored as
``articlebot eval`` scores retrieval (a passage holds a gold answer's words; hit@k, MRR) on
the answerable questions of its seeded sample, pooled or one article per collection::

    ARTICLEBOT_DATABASE_URL=... python -m retrieval.evaluation.search_designs \\
        --articles ../shared/eval/news-qa/articles.jsonl \\
        --questions ../shared/eval/news-qa/questions.jsonl --per-article

It works in collections of its own (``designs-<random>``), dropped afterwards. Retrieval
alone involves no reader, so every article counts (``eval`` leaves out the articles the
trained reader learned from).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.evaluation.answer_eval import RANK_DEPTH, ingest_articles
from retrieval.evaluation.datasets import (
    EvalArticle,
    EvalQuestion,
    load_articles,
    load_questions,
    sample_questions,
)
from retrieval.evaluation.metrics import (
    contains_answer,
    first_rank,
    hit_at,
    mean_reciprocal_rank,
    percentile,
)
from retrieval.types import Passage

if TYPE_CHECKING:
    from retrieval.engine import Engine

Progress = Callable[[Sequence[Any], str], Iterator[Any]]
Search = Callable[[str, np.ndarray, str], list[Passage]]


def _no_progress(items: Sequence[Any], label: str) -> Iterator[Any]:
    return iter(items)


def score(ranks: Sequence[int | None], seconds: Sequence[float]) -> dict[str, float]:
    """hit@1/2/5/10 (%), MRR and the search's p50 (ms) of one design."""
    figures = {f"hit_at_{k}": round(100 * hit_at(ranks, k), 1) for k in (1, 2, 5, RANK_DEPTH)}
    return {**figures, "mrr": round(mean_reciprocal_rank(ranks), 3),
            "search_p50_ms": round(1000 * percentile(seconds, 50), 2)}


def rank_all(search: Search, asked: Sequence[tuple[str, EvalQuestion, np.ndarray]]
             ) -> dict[str, float]:
    ranks, seconds = [], []
    for collection, question, vector in asked:
        started = time.perf_counter()
        passages = search(collection, vector, question.question)
        seconds.append(time.perf_counter() - started)
        ranks.append(first_rank([contains_answer(p.text, question.answers) for p in passages]))
    return score(ranks, seconds)


def compare_designs(engine: Engine, articles: Sequence[EvalArticle],
                    questions: Sequence[EvalQuestion], *, per_article: bool,
                    progress: Progress = _no_progress) -> dict[str, Any]:
    """Both designs' retrieval on the answerable ``questions`` (``engine`` on PostgreSQL)."""
    from retrieval.evaluation.pgvector_search import DirectSearch
    from retrieval.search.hybrid import SearchParams, hybrid_search
    from retrieval.store.postgres import postgres_backend

    prefix = f"designs-{uuid.uuid4().hex[:8]}"
    by_id = {a.doc_id: a for a in articles}
    answerable = [q for q in questions if q.answerable and q.answers and q.doc_id in by_id]
    if per_article:
        docs = list(dict.fromkeys(q.doc_id for q in answerable))
        place = {doc: f"{prefix}-{n}" for n, doc in enumerate(docs)}
        groups = [([by_id[doc]], place[doc]) for doc in docs]
    else:
        place = {q.doc_id: prefix for q in answerable}
        groups = [(list(articles), prefix)]
    params = SearchParams.from_settings(engine.settings.search, RANK_DEPTH)
    vectors = engine.embedder.embed([q.question for q in answerable])
    asked = [(place[q.doc_id], q, v) for q, v in zip(answerable, vectors)]
    try:
        for held, name in progress(groups, "ingest"):
            ingest_articles(engine, held, name)
        report: dict[str, Any] = {
            "questions": len(asked), "collections": len(groups),
            "shape": "per-article" if per_article else "pooled",
            "chunks": sum(engine.collection(n).store.chunk_count() for _, n in groups),
            "caches": rank_all(lambda c, v, q: hybrid_search(engine.collection(c), v, q, params),
                               asked)}
        backend = postgres_backend(engine.settings.storage.pool_size)
        with DirectSearch(backend.db, [n for _, n in groups], vectors.shape[1]) as direct:
            report["pgvector"] = rank_all(lambda c, v, q: direct.search(c, v, q, params), asked)
            report["hnsw_build_s"] = round(direct.add_hnsw(), 2)
            report["pgvector_hnsw"] = rank_all(lambda c, v, q: direct.search(c, v, q, params),
                                               asked)
    finally:
        for _, name in groups:
            engine.drop_collection(name)
    return report


def main(argv: Sequence[str] | None = None) -> None:
    from config import load_settings
    from retrieval.engine import Engine
    from retrieval.errors import ArticlebotError
    from retrieval.evaluation.benchmark import settings_for

    parser = argparse.ArgumentParser(prog="python -m retrieval.evaluation.search_designs",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=250,
                        help="questions drawn as eval draws them (60%% answerable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-article", action="store_true")
    args = parser.parse_args(argv)
    questions = sample_questions(load_questions(args.questions), args.limit, args.seed)
    with tempfile.TemporaryDirectory(prefix="articlebot-designs-") as tmp:
        settings = settings_for(load_settings(None, {}), Path(tmp) / "data", "postgres")
        engine = Engine(settings)
        try:
            report = compare_designs(engine, load_articles(args.articles), questions,
                                     per_article=args.per_article)
        except ArticlebotError as exc:  # an unreachable database: its one sentence
            sys.exit(str(exc))
        finally:
            engine.close()
    print(json.dumps({**report, "seed": args.seed, "limit": args.limit}, indent=2))


if __name__ == "__main__":
    main()
