"""Whole-article summaries built from the article's own sentences.

1. Split the article into sentences (at most ``summary.max_sentences``) and pick the central,
   mutually distinct ones (``retrieval.summary.selection``): 3–6 for ``long`` (about one per
   ``words_per_point`` words), up to two for ``short``.
2. Let the model shorten each picked sentence on its own and keep the shortening only when
   it passes the faithfulness check (``summary.shortening``); else keep the sentence, trimmed.
3. Drop a point that repeats the title or an earlier point; keep article order, and each
   point's paragraph so a reader can check it.

The model work per summary is bounded: at most one call per point (six for ``long``, two for
``short``), each reading one sentence and writing no more tokens than that sentence has.
Points are streamed one at a time, once they are final.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Literal

from config import Settings
from retrieval.errors import StorageError
from retrieval.llm import LLM, TokenCallback
from retrieval.store.collection import Collection
from retrieval.summary import faithfulness as fa
from retrieval.summary.selection import Embed, Selection, article_sentences, select
from retrieval.summary.shortening import Shortening, shorten
from retrieval.types import ArticleInfo, Summary, SummaryPoint

log = logging.getLogger(__name__)

METHOD_VERSION = 3  # bump when the way summaries are made changes: old cache rows go unused
_SHORT_ALONE_WORDS = 18  # a short summary's first sentence this long stands alone


def cache_key(settings: Settings, model_name: str) -> str:
    """The summary cache's model column: the model plus everything that shapes a summary."""
    shape = {"version": METHOD_VERSION, "summary": settings.summary.model_dump(),
             "max_tokens": settings.llm.summary_max_tokens,
             "style": settings.llm.prompt_style}
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:12]
    return f"{model_name}#{digest}"


def point_count(words: int, settings: Settings) -> int:
    cfg = settings.summary
    return max(cfg.min_points, min(cfg.max_points, round(words / cfg.words_per_point)))


def render(points: Sequence[SummaryPoint], length: str) -> str:
    if length == "short":
        return " ".join(p.text for p in points)
    return "\n".join(render_point(p) for p in points)


def render_point(point: SummaryPoint) -> str:
    return f"- {point.text} (paragraph {point.paragraph + 1})"


def encode(points: Sequence[SummaryPoint]) -> str:
    return json.dumps([[p.text, p.paragraph, p.compressed] for p in points], ensure_ascii=False)


def decode(stored: str) -> list[SummaryPoint] | None:
    """Points from the cache, or None when the row is not in this format."""
    try:
        rows = json.loads(stored)
        return [SummaryPoint(str(t), int(p), bool(c)) for t, p, c in rows]
    except (ValueError, TypeError):
        return None


def summarize_article(llm: LLM, embed: Embed, settings: Settings, title: str,
                      paragraphs: Sequence[str], length: str,
                      on_token: TokenCallback | None) -> list[SummaryPoint]:
    cfg = settings.summary
    sentences = article_sentences(paragraphs, cfg.max_sentences)
    words = sum(len(p.split()) for p in paragraphs)
    count = point_count(words, settings) if length == "long" else 2
    selection = Selection(cfg.method, cfg.lead_weight, cfg.redundancy, cfg.fact_weight)
    picked = select(sentences, title, count, selection, embed)
    if not picked:  # only fragments (a list, a caption): the first one is all there is
        picked = sentences[:1]
    use_model = cfg.compress == "on" or (cfg.compress == "auto" and
                                         llm.prompt_style() == "chat")
    rules = Shortening(cfg.compress_min_words if use_model else 10**6, cfg.max_words,
                       cfg.min_content_share, settings.llm.summary_max_tokens)
    points: list[SummaryPoint] = []
    for sentence in picked:
        if length == "short" and points and len(points[0].text.split()) >= _SHORT_ALONE_WORDS:
            break
        text, compressed = shorten(llm, sentence.text, title, rules)
        if any(fa.echoes(text, p.text) for p in points) or fa.echoes_title(text, title):
            continue
        point = SummaryPoint(text, sentence.paragraph, compressed)
        if on_token is not None:
            on_token(_streamed(point, length, first=not points))
        points.append(point)
    return points


def _streamed(point: SummaryPoint, length: str, *, first: bool) -> str:
    if length == "short":
        return point.text if first else f" {point.text}"
    return render_point(point) if first else f"\n{render_point(point)}"


class Summarizer:
    """Summaries of stored articles, cached in their collection per model and settings."""

    def __init__(self, settings: Settings, llm: Callable[[], LLM], embed: Embed):
        self.settings = settings
        self._get_llm = llm
        self.embed = embed

    def summarize(self, target: Collection, info: ArticleInfo,
                  length: Literal["short", "long"], on_token: TokenCallback | None,
                  started: float) -> Summary:
        llm = self._get_llm()
        key = cache_key(self.settings, llm.name)
        stored = target.store.cached_summary(info.content_hash, length, key)
        points = None if stored is None else decode(stored)
        cached = points is not None
        if points is None:
            paragraphs = target.store.article_text(info.id).split("\n\n")
            points = summarize_article(llm, self.embed, self.settings, info.title, paragraphs,
                                       length, on_token)
            try:
                target.store.save_summary(info.content_hash, length, key, encode(points))
            except StorageError as exc:  # a full disk costs the cache, not the minutes of work
                log.warning("could not cache the summary of article %s: %s", info.id, exc)
        text = render(points, length) or "This article has no text to summarise."
        if cached and on_token is not None:
            on_token(text)
        return Summary(info, text, length, cached, {"total_s": time.perf_counter() - started},
                       points)
