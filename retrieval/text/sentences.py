"""The one sentence splitter: ``(start, end)`` spans of a text's sentences, abbreviation-aware
(chunking, the answer's sentences and citations, a summary's sentences and its names)."""

from __future__ import annotations

import re

# The months as news abbreviates them ("Jan. 5"; ``retrieval.text.names`` has the calendar).
MONTH_ABBREVIATIONS = "jan feb mar apr jun jul aug sep sept oct nov dec".split()
# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc inc ltd co corp gen gov sen rep lt col sgt capt "
    "fig al e.g i.e u.s u.k u.n e.u".split() + MONTH_ABBREVIATIONS
)
_BOUNDARY = re.compile(r"[.!?…][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` spans of the sentences of ``text`` (whitespace trimmed)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        # Only the last word matters: look back a bounded window, not the whole run since
        # the previous boundary (a long text without sentence ends would be quadratic).
        before = text[max(start, match.start() - 64) : match.start()].split()
        word = before[-1].lower().strip("\"'“‘(") if before else ""
        if text[match.start()] == "." and (word in _ABBREVIATIONS or len(word) == 1):
            continue  # "U.S. officials", "J. Smith": not a boundary
        end = match.start() + len(match.group().rstrip())
        if text[start:end].strip():
            spans.append((start, end))
        start = match.end()
    tail = text[start:].rstrip()
    if tail.strip():
        spans.append((start, start + len(tail)))
    return spans


def sentence_starts(text: str) -> list[int]:
    """Where the sentences of ``text`` start, in order; a line break also ends one (a headline
    above its article, the items of a list)."""
    starts: list[int] = []
    offset = 0
    for line in text.split("\n"):
        starts.extend(offset + start for start, _ in split_sentences(line))
        offset += len(line) + 1
    return starts


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """The character range of the sentence of ``text`` that holds the span ``start``-``end``
    (widened to the span's end when the span runs past it). A paragraph break ends a
    sentence even without a full stop (a headline before it)."""
    bounds = split_sentences(text) or [(0, len(text))]
    s, e = next(((s, e) for s, e in bounds if s <= start < e), (0, len(text)))
    before = text.rfind("\n\n", 0, start)
    after = text.find("\n\n", start)
    s = max(s, before + 2) if before >= 0 else s
    e = min(e, after) if after >= 0 else e
    return s, max(e, end)
