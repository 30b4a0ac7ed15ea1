"""What the reader reads: found passages widened by their neighbouring paragraphs within a
budget of characters, merged where they touch (fast tier, no models)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from retrieval.answer.neighbours import Widened, as_found, widen
from retrieval.answer.reader import Span
from retrieval.store.backend import StoredChunk
from retrieval.types import Passage

# Paragraphs of 20 characters: a budget of 64 reads one either side (3 x 20 + 2 x 2).
PARAGRAPHS = [
    "Talks open Monday...",
    "They meet in Geneva.",
    "It lasts for 2 days.",
    "Markets rose sharply",
    "Analysts were wary..",
    "Nobody commented....",
]
TEXT = "\n\n".join(PARAGRAPHS)
ONE_EITHER_SIDE = 64


def _chunks(article_id: int = 7) -> list[StoredChunk]:
    chunks, at = [], 0
    for i, para in enumerate(PARAGRAPHS):
        chunks.append(StoredChunk(100 + i, article_id, "Talks", i, i, at, at + len(para), para))
        at += len(para) + 2
    return chunks


def _found(paragraph: int, score: float, article_id: int = 7) -> Passage:
    c = _chunks(article_id)[paragraph]
    return Passage(c.id, article_id, "Talks", c.paragraph, c.start, c.end, c.text, score)


def _widen(found: list[Passage], budget: int = ONE_EITHER_SIDE) -> Widened:
    return widen(found, budget, lambda a: _chunks(a), lambda a: TEXT)


def test_touching_neighbourhoods_merge_and_distant_ones_stay_apart_best_first() -> None:
    widened = _widen([_found(5, 0.9), _found(1, 0.8)], budget=42)  # one neighbour each
    # paragraph 5 with 4; paragraph 1 with 0 (before first): 1 and 4 do not touch
    assert [p.text for p in widened.passages] == [
        "\n\n".join(PARAGRAPHS[4:6]), "\n\n".join(PARAGRAPHS[0:2])]
    assert widened.passages[1].paragraph == 0
    assert TEXT[widened.passages[1].start:widened.passages[1].end] == widened.passages[1].text

    merged = _widen([_found(1, 0.9), _found(3, 0.5)])
    assert [p.text for p in merged.passages] == ["\n\n".join(PARAGRAPHS[0:5])]
    # touching without overlapping (0-1 and 2-3): still one stretch
    touching = _widen([_found(1, 0.9), _found(3, 0.5)], budget=42)
    assert [p.text for p in touching.passages] == ["\n\n".join(PARAGRAPHS[0:4])]


def test_the_budget_bounds_the_widening_and_a_long_paragraph_is_read_as_found() -> None:
    assert [p.text for p in _widen([_found(2, 0.9)], budget=30).passages] == [PARAGRAPHS[2]]
    # before, after, before again (86); after again would be 108
    assert [p.text for p in _widen([_found(2, 0.9)], budget=100).passages] == [
        "\n\n".join(PARAGRAPHS[0:4])]
    # with no paragraph left on one side, it grows on the other
    assert [p.text for p in _widen([_found(5, 0.9)]).passages] == [
        "\n\n".join(PARAGRAPHS[3:6])]
    # one paragraph in two chunks, longer than the budget: only the found chunk
    text = "First half here. Second half here."
    halves = [StoredChunk(1, 3, "T", 0, 0, 0, 16, text[:16]),
              StoredChunk(2, 3, "T", 1, 0, 17, len(text), text[17:])]
    found = [Passage(2, 3, "T", 0, 17, len(text), text[17:], 0.5)]
    assert widen(found, 20, lambda a: halves, lambda a: text).passages[0].text == \
        "Second half here."
    assert widen(found, 40, lambda a: halves, lambda a: text).passages[0].text == text


def test_a_span_in_an_added_paragraph_gets_the_lowest_found_prior() -> None:
    widened = _widen([_found(1, 0.9), _found(2, 0.5)])
    text = widened.passages[0].text
    prior = widened.prior(10.0)
    geneva = text.index("Geneva")
    monday = text.index("Monday")  # paragraph 0, added around paragraph 1
    assert prior(Span(0, geneva, geneva + 6, "Geneva", 1.0)) == pytest.approx(9.0)
    assert prior(Span(0, monday, monday + 6, "Monday", 1.0)) == pytest.approx(5.0)
    # a span running from one found passage into the next: the one it starts in
    across = text.index("Geneva")
    lasts = text.index("It lasts") + 8
    assert prior(Span(0, across, lasts, text[across:lasts], 1.0)) == pytest.approx(9.0)


def test_a_span_is_cited_from_its_own_paragraph() -> None:
    widened = _widen([_found(1, 0.9)])
    text = widened.passages[0].text
    at = text.index("2 days")
    source, span = widened.cited(Span(0, at, at + 6, "2 days", 1.0))
    assert source.paragraph == 2 and source.text == PARAGRAPHS[2]
    assert source.text[span.start:span.end] == "2 days"
    assert source.chunk_id == 102
    # its score is that of the found passage it sits in, or the lowest found one's
    two = _widen([_found(1, 0.9), replace(_found(2, 0.4), dense=0.3)])
    text = two.passages[0].text
    at = text.index("2 days")
    assert two.cited(Span(0, at, at + 6, "2 days", 1.0))[0].dense == 0.3
    monday = text.index("Monday")
    assert two.cited(Span(0, monday, monday + 6, "Monday", 1.0))[0].score == 0.4


def test_without_widening_or_without_the_article_the_found_passages_are_read_as_they_are(
        ) -> None:
    found = [_found(1, 0.9), _found(4, 0.3)]
    assert _widen(found, budget=0).passages == found
    gone = widen(found, 1, lambda a: [], lambda a: "")  # removed since the search
    assert gone.passages == found
    span = Span(1, 0, 7, "Analyst", 1.0)
    assert gone.cited(span) == (found[1], span)
    assert gone.prior(2.0)(span) == pytest.approx(0.6)
    # text that no longer matches its chunks (re-ingested meanwhile): as found
    assert widen(found, 1, lambda a: _chunks(a), lambda a: "x" * len(TEXT)).passages == found
    assert as_found(found).passages == found
    # overlapping found chunks read as found: a span's prior is the one it was read in
    overlapping = [_found(1, 0.9), replace(_found(1, 0.2), chunk_id=999)]
    assert as_found(overlapping).prior(10.0)(Span(1, 0, 4, "They", 1.0)) == pytest.approx(2.0)


def test_passages_of_two_articles_are_widened_each_in_its_own() -> None:
    widened = _widen([_found(0, 0.9, article_id=1), _found(5, 0.8, article_id=2)])
    assert [(p.article_id, p.text) for p in widened.passages] == [
        (1, "\n\n".join(PARAGRAPHS[0:3])), (2, "\n\n".join(PARAGRAPHS[3:6]))]
