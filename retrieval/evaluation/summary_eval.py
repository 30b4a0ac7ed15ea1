"""``articlebot eval --summaries``: are the summaries faithful, distinct and quick?

A seeded sample of articles is stored in a temporary collection and each is summarised
through ``Engine.summarize`` (the bot's path), long and short, then long again (the cache).
Every summary is scored from its text alone, so any summariser can be compared:

- invented: a summary with a name or number (a capitalised word or a figure) that neither
  the article nor its title contains;
- title echo: a line whose words are mostly the title's;
- duplicate bullets: two lines of a long summary that echo each other;
- name coverage: the share of the names in the article's first two paragraphs that the long
  summary mentions.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from retrieval.evaluation.answer_eval import (
    Progress,
    _no_progress,
    eval_collection,
    ingest_articles,
)
from retrieval.evaluation.datasets import EvalArticle, load_articles
from retrieval.evaluation.metrics import percentile
from retrieval.summary import faithfulness as fa

_MARKER = re.compile(r"\s*\((?:paragraphs?|¶)\s*[\d, –-]+\)\s*$")


def summary_lines(text: str) -> list[str]:
    """The points of a summary: its bullets (``- …``), or its sentences-as-one-line, without
    the paragraph markers."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [_MARKER.sub("", line.removeprefix("- ").removeprefix("• ")).strip()
            for line in lines]


def lead_names(article: EvalArticle) -> list[str]:
    """The names in the article's first two paragraphs."""
    paragraphs = [p for p in article.text.split("\n\n") if p.strip()]
    return fa.names("\n\n".join(paragraphs[:2]), article=article.text)


@dataclass
class SummaryScore:
    invented: list[str]
    title_echo: bool
    duplicates: int
    lines: int
    coverage: float | None = None


def score(text: str, article: EvalArticle, *, long: bool) -> SummaryScore:
    lines = summary_lines(text)
    source = f"{article.title}\n\n{article.text}"
    invented = sorted({w for line in lines for w in fa.unsupported(line, source)})
    result = SummaryScore(invented, any(fa.echoes_title(line, article.title) for line in lines),
                          len(fa.duplicates(lines)) if long else 0, len(lines))
    if long:
        result.coverage = fa.name_coverage(" ".join(lines), lead_names(article))
    return result


@dataclass
class ArticleRun:
    doc_id: str
    title: str
    words: int
    long: str
    short: str
    long_s: float
    short_s: float
    cached_s: float
    long_score: SummaryScore
    short_score: SummaryScore
    compressed: list[bool] = field(default_factory=list)


def _percentile(values: Sequence[float], q: float) -> float | None:
    """``metrics.percentile`` (the p50/p95 of every report), None for no values."""
    return round(percentile(values, q), 3) if values else None


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def summarize_runs(runs: Sequence[ArticleRun]) -> dict[str, Any]:
    scores = [r.long_score for r in runs] + [r.short_score for r in runs]
    coverages = [r.long_score.coverage for r in runs if r.long_score.coverage is not None]
    points = [c for r in runs for c in r.compressed]
    near_500 = [r.long_s for r in runs if 400 <= r.words <= 600]
    return {
        "articles": len(runs),
        "words_mean": round(sum(r.words for r in runs) / len(runs), 1) if runs else None,
        "invented": sum(1 for s in scores if s.invented),
        "invented_pct": _pct(sum(1 for s in scores if s.invented), len(scores)),
        "title_echoes": sum(1 for s in scores if s.title_echo),
        "duplicate_bullets": sum(1 for r in runs if r.long_score.duplicates),
        "bullets_mean": round(sum(r.long_score.lines for r in runs) / len(runs), 2)
        if runs else None,
        "bullets_3_to_6_pct": _pct(sum(1 for r in runs if 3 <= r.long_score.lines <= 6),
                                   len(runs)),
        "short_sentences_mean": round(sum(r.short_score.lines for r in runs) / len(runs), 2)
        if runs else None,
        "name_coverage_pct": round(100 * sum(coverages) / len(coverages), 1)
        if coverages else None,
        "compressed_pct": _pct(sum(points), len(points)),
        "long_p50_s": _percentile([r.long_s for r in runs], 50),
        "long_p95_s": _percentile([r.long_s for r in runs], 95),
        "long_p50_400_600_words_s": _percentile(near_500, 50),
        "short_p50_s": _percentile([r.short_s for r in runs], 50),
        "short_p95_s": _percentile([r.short_s for r in runs], 95),
        "cached_max_s": round(max(r.cached_s for r in runs), 4) if runs else None,
    }


def _timed(engine: Any, title: str, collection: str, length: str) -> tuple[Any, float]:
    started = time.perf_counter()
    summary = engine.summarize(title, collection=collection, length=length)
    return summary, time.perf_counter() - started


def summarize_one(engine: Any, article: EvalArticle, collection: str) -> ArticleRun:
    long, long_s = _timed(engine, article.title, collection, "long")
    short, short_s = _timed(engine, article.title, collection, "short")
    again, cached_s = _timed(engine, article.title, collection, "long")
    if not again.cached:
        cached_s = float("inf")  # a cache miss shows as an infinite cached time
    return ArticleRun(
        article.doc_id, article.title, len(article.text.split()), long.text, short.text,
        long_s, short_s, cached_s, score(long.text, article, long=True),
        score(short.text, article, long=False),
        [p.compressed for p in getattr(long, "points", [])])


def run_summary_eval(engine: Any, articles_path: Path, *, limit: int = 100, seed: int = 0,
                     out: IO[str] | None = None, progress: Progress = _no_progress
                     ) -> dict[str, Any]:
    articles = load_articles(articles_path)
    # summarize() finds an article by its title: keep one article per title and per text.
    unique = list({a.title.casefold(): a for a in {a.text: a for a in articles}.values()}
                  .values())
    chosen = random.Random(seed).sample(unique, min(limit, len(unique)))
    runs: list[ArticleRun] = []
    with eval_collection(engine, "summaries", False) as name:
        ingest_articles(engine, chosen, name, progress)
        for article in progress(chosen, "summarise"):
            run = summarize_one(engine, article, name)
            runs.append(run)
            if out is not None:
                out.write(json.dumps(asdict(run), ensure_ascii=False) + "\n")
    report = summarize_runs(runs)
    report["seed"] = seed
    return report


SUMMARY_ROWS = [
    ("articles", "articles summarised (long and short each)"),
    ("words_mean", "article length, mean (words)"),
    ("invented", "summaries with a name or number the article lacks"),
    ("invented_pct", "the same, share of all summaries (%)"),
    ("title_echoes", "summaries with a line that repeats the title"),
    ("duplicate_bullets", "long summaries with two bullets that repeat each other"),
    ("bullets_mean", "bullets per long summary, mean"),
    ("bullets_3_to_6_pct", "long summaries with 3 to 6 bullets (%)"),
    ("short_sentences_mean", "lines per short summary, mean"),
    ("name_coverage_pct", "names of the first two paragraphs in the long summary (%)"),
    ("compressed_pct", "bullets the model shortened (the rest are article sentences) (%)"),
    ("long_p50_s", "long summary latency, median (s)"),
    ("long_p95_s", "long summary latency, 95th percentile (s)"),
    ("long_p50_400_600_words_s", "long summary latency, 400-600-word articles, median (s)"),
    ("short_p50_s", "short summary latency, median (s)"),
    ("short_p95_s", "short summary latency, 95th percentile (s)"),
    ("cached_max_s", "a cached summary, slowest (s)"),
]
