"""The one sentence splitter: ``(start, end)`` spans of a text's sentences, abbreviation-aware."""

from __future__ import annotations

import re

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc inc ltd co corp gen gov sen rep lt col sgt capt "
    "jan feb mar apr jun jul aug sep sept oct nov dec fig al e.g i.e u.s u.k u.n e.u".split()
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
