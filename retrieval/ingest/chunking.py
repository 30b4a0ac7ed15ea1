"""Sentence-aligned chunks that fit the embedder, with paragraph index and character offsets.

A chunk never crosses a paragraph, so every citation points at one paragraph. Sentences are
packed greedily up to ``max_tokens`` word pieces; a sentence longer than that is cut at word
boundaries (the embedder would otherwise silently drop its tail).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from retrieval.text.sentences import split_sentences
from retrieval.types import Chunk

TokenCounter = Callable[[str], int]


def _word_pieces(text: str, start: int, end: int, limit: int, count: TokenCounter) -> Iterator[
    tuple[int, int]
]:
    """Cut one over-long span into word-aligned pieces of at most ``limit`` tokens."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    piece_start = 0
    while piece_start < len(words):
        # Binary search the longest run of words that fits; every word is at least one
        # token, so no run longer than ``limit`` words can fit (keeps this linear).
        lo, hi = piece_start + 1, min(len(words), piece_start + limit)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[words[piece_start][0] : words[mid - 1][1]]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        yield words[piece_start][0], words[lo - 1][1]
        piece_start = lo


def chunk_paragraphs(
    paragraphs: Sequence[str],
    count_tokens: TokenCounter,
    *,
    max_tokens: int = 128,
    overlap_sentences: int = 0,
) -> list[Chunk]:
    """Chunk paragraphs joined by blank lines (offsets refer to ``"\\n\\n".join(paragraphs)``)."""
    chunks: list[Chunk] = []
    offset = 0
    for index, paragraph in enumerate(paragraphs):
        for start, end in _pack(paragraph, count_tokens, max_tokens, overlap_sentences):
            chunks.append(
                Chunk(len(chunks), index, offset + start, offset + end, paragraph[start:end])
            )
        offset += len(paragraph) + 2
    return chunks


def _pack(
    paragraph: str, count: TokenCounter, limit: int, overlap: int
) -> Iterator[tuple[int, int]]:
    sentences: list[tuple[int, int, int]] = []
    for s, e in split_sentences(paragraph):
        n = count(paragraph[s:e])
        if n <= limit:
            sentences.append((s, e, n))
        else:
            sentences.extend((ps, pe, count(paragraph[ps:pe])) for ps, pe in
                             _word_pieces(paragraph, s, e, limit, count))
    i = 0
    while i < len(sentences):
        j, total = i, 0
        while j < len(sentences) and (j == i or total + sentences[j][2] <= limit):
            total += sentences[j][2]
            j += 1
        # Word pieces are not additive across sentences; check the joined span once.
        while j - i > 1 and count(paragraph[sentences[i][0] : sentences[j - 1][1]]) > limit:
            j -= 1
        yield sentences[i][0], sentences[j - 1][1]
        i = max(j - overlap, i + 1) if j < len(sentences) else j
