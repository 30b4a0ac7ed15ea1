"""``articlebot eval``: ingest SQuAD-style articles, ask every question through Engine.ask.

The questions go through exactly the path the bot uses (``Engine.ask``). Retrieval figures
come from a second, untimed ``Engine.search`` with a deeper k, so hit@5 and MRR can be
reported whatever ``search.top_k`` is.

Ingestion is the slow part (35 articles, ~3,000 chunks to embed). By default each run uses a
fresh temporary collection that is removed afterwards; ``reuse_index`` keeps the collection
under a name derived from everything that shapes the index (the articles' text, the
embedding model and title prefix, the chunking settings), so later runs that only change
answer-side settings (prompt, top_k, gates, fusion) reuse it without embedding again.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from config import Settings
from retrieval.evaluation.datasets import (
    EvalArticle,
    EvalQuestion,
    load_articles,
    load_questions,
    sample_questions,
    split_articles,
)
from retrieval.evaluation.metrics import (
    QuestionResult,
    contains_answer,
    first_rank,
    summarize_results,
)

if TYPE_CHECKING:
    from retrieval.engine import Engine

RANK_DEPTH = 10  # retrieval figures look at this many passages
Progress = Callable[[Sequence[Any], str], Iterator[Any]]


def _no_progress(items: Sequence[Any], label: str) -> Iterator[Any]:
    return iter(items)


@dataclass(frozen=True)
class EvalPlan:
    held: list[EvalArticle]  # ingested
    questions: list[EvalQuestion]  # about the held articles
    off_topic: list[EvalQuestion]  # about articles that are not ingested


def plan_eval(articles: Sequence[EvalArticle], questions: Sequence[EvalQuestion], *,
              limit: int, seed: int, split_off_topic: bool) -> EvalPlan:
    """Which articles to ingest and which questions to ask (all seeded)."""
    held, withheld = split_articles(articles, seed) if split_off_topic else (list(articles), [])
    held_ids = {a.doc_id for a in held}
    withheld_ids = {a.doc_id for a in withheld}
    chosen = sample_questions([q for q in questions if q.doc_id in held_ids], limit, seed)
    off_topic: list[EvalQuestion] = []
    if withheld:
        # As many as the unanswerable share of the sample: 100 for the 250-question run.
        off_topic = sample_questions([q for q in questions if q.doc_id in withheld_ids],
                                     max(1, round(limit * 0.4)), seed + 1)
    return EvalPlan(held, chosen, off_topic)


def index_key(settings: Settings, articles: Sequence[EvalArticle]) -> str:
    """A digest of everything that shapes the stored chunks and vectors."""
    shape = {
        "articles": sorted(hashlib.sha256(f"{a.title}\n{a.text}".encode()).hexdigest()
                           for a in articles),
        "embedding": [settings.embedding.model, settings.embedding.title_prefix],
        "chunking": settings.chunking.model_dump(),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def eval_collection(engine: Engine, key: str, reuse: bool) -> Iterator[str]:
    """A collection name: ``eval-<key>`` kept for reuse, or a temporary one removed after."""
    name = f"eval-{key}" if reuse else f"eval-tmp-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        if not reuse:
            engine.drop_collection(name)


def ingest_articles(engine: Engine, articles: Sequence[EvalArticle], collection: str,
                    progress: Progress = _no_progress) -> float:
    """Store the articles (a no-op for ones already stored); returns the seconds it took."""
    started = time.perf_counter()
    with engine.collection(collection).batch():
        for article in progress(articles, "ingest"):
            engine.ingest_bytes(f"{article.title}\n\n{article.text}".encode(), "article.txt",
                                title=article.title, collection=collection)
    return time.perf_counter() - started


def _squash(text: str) -> str:
    return " ".join(text.split())


def ask_one(engine: Engine, question: EvalQuestion, collection: str,
            gold_paragraphs: dict[str, tuple[str, str]], off_topic: bool) -> QuestionResult:
    started = time.perf_counter()
    answer = engine.ask(question.question, collection=collection)
    latency = time.perf_counter() - started
    ranked = engine.search(question.question, collection=collection, k=RANK_DEPTH)
    title, paragraph = gold_paragraphs.get(question.qid, ("", ""))
    return QuestionResult(
        qid=question.qid, question=question.question, answerable=question.answerable,
        off_topic=off_topic, golds=question.answers,
        answer=answer.text, abstained=answer.abstained,
        contexts=[p.text for p in answer.passages], latency_s=latency,
        first_token_s=answer.timings.get("first_token_s"),
        tokens=int(answer.timings.get("tokens", 0)), context_tokens=answer.context_tokens,
        answer_rank=first_rank([contains_answer(p.text, question.answers) for p in ranked])
        if question.answers else None,
        paragraph_rank=first_rank([p.title == title and _squash(p.text) in paragraph
                                   for p in ranked]),
        kind=question.kind, reader_margin=answer.reader_margin,
        answerable_score=answer.answerable,
    )


def _gold_paragraphs(articles: Sequence[EvalArticle], questions: Sequence[EvalQuestion]
                     ) -> dict[str, tuple[str, str]]:
    by_id = {a.doc_id: a for a in articles}
    found: dict[str, tuple[str, str]] = {}
    for q in questions:
        article = by_id.get(q.doc_id)
        if article is not None and 0 <= q.paragraph < len(article.paragraphs):
            found[q.qid] = (article.title, _squash(article.paragraphs[q.paragraph]))
    return found


def run_eval(engine: Engine, articles_path: Path, questions_path: Path, *, limit: int = 250,
             seed: int = 0, split_off_topic: bool = False, per_article: bool = False,
             reuse_index: bool = False, out: IO[str] | None = None,
             progress: Progress = _no_progress,
             skip_articles: Collection[str] = ()) -> dict[str, Any]:
    """Run the evaluation with ``engine`` (an ``Engine``); returns the summary dictionary.

    Pooled (the default): every held article in one collection. ``per_article``: each article
    alone in its own collection, its questions asked there, as on a server that uploaded one
    article. A question whose ``kind`` is ``off_topic`` counts as off-topic in both shapes.
    """
    every = load_articles(articles_path)
    # Articles the trained reader learned from say nothing about how it reads new ones.
    articles = [a for a in every if a.doc_id not in skip_articles]
    plan = plan_eval(articles, load_questions(questions_path), limit=limit, seed=seed,
                     split_off_topic=split_off_topic)
    asked = [(q, q.off_topic) for q in plan.questions] + [(q, True) for q in plan.off_topic]
    gold = _gold_paragraphs(articles, [q for q, _ in asked])
    results: list[QuestionResult] = []
    ingest_s = 0.0
    if per_article:
        by_id = {a.doc_id: a for a in articles}
        groups: dict[str, list[tuple[EvalQuestion, bool]]] = {}
        for question, off_topic in asked:
            groups.setdefault(question.doc_id, []).append((question, off_topic))
        shapes = [([by_id[doc_id]], group) for doc_id, group in groups.items() if doc_id in by_id]
        outer: Progress = progress
        inner: Progress = _no_progress
    else:
        shapes = [(plan.held, asked)]
        outer, inner = _no_progress, progress
    kept = None
    for held, questions in outer(shapes, "articles"):
        with eval_collection(engine, index_key(engine.settings, held), reuse_index) as name:
            kept = name if reuse_index and not per_article else None
            ingest_s += ingest_articles(engine, held, name, inner)
            for question, off_topic in inner(questions, "ask"):
                result = ask_one(engine, question, name, gold, off_topic)
                results.append(result)
                if out is not None:
                    out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    report = summarize_results(results)
    report.update(articles=sum(len(h) for h, _ in shapes), seed=seed,
                  shape="per-article" if per_article else "pooled",
                  ingest_s=round(ingest_s, 1), trained_articles_left_out=len(every) - len(articles),
                  collection=kept)
    return report
