"""What the reader reads: the passages search found, each widened to the paragraphs around it.

A found chunk is one paragraph or part of one. Read with whole paragraphs before and after it,
up to ``reader.context_chars`` characters, a found passage gives the reader the context its
answer leans on ("the talks" of one paragraph are "a meeting" in the one before); a paragraph
longer than that is read as found (Wikipedia's long paragraphs read worse widened). Widened
passages of one article that touch or overlap are merged, so each part of an article is read
once, in one stretch; they come in the order of the best found passage each holds.

Spans are still ranked by the search score of the found passage they start in (spans in the
added paragraphs get the lowest found passage's), and cited from their own paragraph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from retrieval.answer.reader import Prior, Span
from retrieval.store.backend import StoredChunk
from retrieval.types import Passage


@dataclass(frozen=True)
class Widened:
    """The passages the reader reads, and how a span read in them maps back to the found
    passages (its prior) and to its own paragraph (its citation)."""

    found: list[Passage]
    passages: list[Passage]  # what the reader reads; ``Span.passage`` indexes these
    # For each passage read: the article's chunks it spans (empty: a found passage as is).
    chunks: list[list[StoredChunk]]

    def prior(self, weight: float) -> Prior:
        """``weight`` times the search score of the found passage a span starts in, or of the
        lowest found passage for a span in an added paragraph."""
        return lambda span: weight * self._scored_by(span).score

    def _scored_by(self, span: Span) -> Passage:
        """The found passage whose scores a span takes: the one it starts in, else the
        lowest."""
        read = self.passages[span.passage]
        if not self.chunks[span.passage]:  # a found passage read as it is
            return read
        start = read.start + span.start
        for found in self.found:
            if found.article_id == read.article_id and found.start <= start < found.end:
                return found
        return min(self.found, key=lambda p: p.score)

    def cited(self, span: Span) -> tuple[Passage, Span]:
        """The paragraph that holds ``span`` as a passage (to the span's end should it run
        past it), with the scores of the found passage it starts in (or of the lowest found
        passage), and the span within it: what the citation quotes."""
        read = self.passages[span.passage]
        chunks = self.chunks[span.passage]
        if not chunks:
            return read, span
        held = self._scored_by(span)
        start, end = read.start + span.start, read.start + span.end
        first = next((c for c in reversed(chunks) if c.start <= start), chunks[0])
        own = [c for c in chunks if c.paragraph == first.paragraph]
        last = max(own[-1].end, min(end, chunks[-1].end))
        lo = own[0].start
        passage = replace(read, chunk_id=first.id, paragraph=first.paragraph, start=lo,
                          end=last, text=read.text[lo - read.start:last - read.start],
                          score=held.score, dense=held.dense)
        return passage, replace(span, passage=0, start=start - lo, end=end - lo)


def as_found(found: Sequence[Passage]) -> Widened:
    """The found passages read as they are (``reader.context_chars = 0``)."""
    return Widened(list(found), list(found), [[] for _ in found])


def _neighbourhood(chunks: Sequence[StoredChunk], paragraphs: dict[int, tuple[int, int]],
                   at: int, budget: int) -> tuple[int, int]:
    """The run of ``chunks`` (first and last index) read for the found chunk ``at``: its whole
    paragraph, then whole paragraphs before and after it, nearest first, for as long as the
    text stays within ``budget`` characters; the chunk alone when its paragraph is longer.
    ``paragraphs`` gives each paragraph's first and last chunk."""
    lo, hi = paragraphs[chunks[at].paragraph]
    if chunks[hi].end - chunks[lo].start > budget:
        return at, at
    grew = True
    while grew:
        grew = False
        if lo > 0:
            before = paragraphs[chunks[lo - 1].paragraph][0]
            if chunks[hi].end - chunks[before].start <= budget:
                lo, grew = before, True
        if hi < len(chunks) - 1:
            after = paragraphs[chunks[hi + 1].paragraph][1]
            if chunks[after].end - chunks[lo].start <= budget:
                hi, grew = after, True
    return lo, hi


def widen(found: Sequence[Passage], budget: int,
          chunks_of: Callable[[int], Sequence[StoredChunk]],
          article_text: Callable[[int], str]) -> Widened:
    """``found``, each widened by whole paragraphs around it up to ``budget`` characters,
    merged per article where they touch.

    ``chunks_of`` and ``article_text`` read the collection (an article's chunks in order and
    its text). A found passage whose article is gone or changed since the search is read as
    it is."""
    if budget <= 0 or not found:
        return as_found(found)
    read: list[tuple[int, Passage, list[StoredChunk]]] = []  # (best found rank, ...)
    by_article: dict[int, list[tuple[int, Passage]]] = {}
    for rank, passage in enumerate(found):
        by_article.setdefault(passage.article_id, []).append((rank, passage))
    for article_id, hits in by_article.items():
        chunks = list(chunks_of(article_id))
        text = article_text(article_id) if chunks else ""
        index = {c.id: i for i, c in enumerate(chunks)}
        if any(p.chunk_id not in index for _, p in hits) or \
                any(text[c.start:c.end] != c.text for c in chunks):
            read.extend((rank, passage, []) for rank, passage in hits)
            continue
        paragraphs: dict[int, tuple[int, int]] = {}
        for i, c in enumerate(chunks):
            paragraphs[c.paragraph] = (paragraphs.get(c.paragraph, (i, i))[0], i)
        runs = sorted((*_neighbourhood(chunks, paragraphs, index[p.chunk_id], budget), rank)
                      for rank, p in hits)
        merged: list[list[int]] = []
        for lo, hi, rank in runs:
            if merged and lo <= merged[-1][1] + 1:  # overlapping or touching
                merged[-1][1] = max(merged[-1][1], hi)
                merged[-1][2] = min(merged[-1][2], rank)
            else:
                merged.append([lo, hi, rank])
        for lo, hi, rank in merged:
            start, end = chunks[lo].start, chunks[hi].end
            read.append((rank, replace(found[rank], chunk_id=chunks[lo].id,
                                       paragraph=chunks[lo].paragraph, start=start, end=end,
                                       text=text[start:end]), chunks[lo:hi + 1]))
    read.sort(key=lambda item: item[0])
    return Widened(list(found), [p for _, p, _ in read], [c for _, _, c in read])
