"""Split long text into Discord messages (2,000 characters each) at natural boundaries.

Paragraphs and fenced code blocks are kept whole when they fit in a message; a paragraph
too long for one message is split between lines, then sentences, then words. Citation lines
(``[1] ...``) and code lines are never cut; a code block longer than a message is split
between its lines and each part is fenced again, so every message renders on its own.
Pure functions: no Discord import, unit-tested in ``tests/test_bot_split.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

MESSAGE_LIMIT = 2000
FENCE = "```"
_CITATION = re.compile(r"^\s*\[\d+\]\s")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?…])\s+")

Piece = tuple[str, str]  # (text, separator placed before it when it follows other text)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """``text`` as messages of at most ``limit`` characters (none empty)."""
    if limit < 40:
        raise ValueError("limit must be at least 40 characters")
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    messages: list[str] = []
    current = ""
    for block, sep in _blocks(text):
        pieces = [(block, sep)] if len(block) <= limit else list(_pieces(block, sep, limit))
        for piece, piece_sep in pieces:
            candidate = current + piece_sep + piece if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    messages.append(current)
    return [m.strip() for m in messages if m.strip()]


def _is_fence(line: str) -> bool:
    return line.lstrip().startswith(FENCE)


def _blocks(text: str) -> Iterator[Piece]:
    """Paragraphs and code blocks, each with the separator that preceded it."""
    lines = text.split("\n")
    i, blank_before = 0, False
    while i < len(lines):
        if not lines[i].strip():
            blank_before, i = True, i + 1
            continue
        j = i + 1
        if _is_fence(lines[i]):
            while j < len(lines) and not _is_fence(lines[j]):
                j += 1
            j = min(j + 1, len(lines))  # include the closing fence
        else:
            while j < len(lines) and lines[j].strip() and not _is_fence(lines[j]):
                j += 1
        yield "\n".join(lines[i:j]), "\n\n" if blank_before else "\n"
        i, blank_before = j, False


def _pieces(block: str, sep: str, limit: int) -> Iterator[Piece]:
    """A block too long for one message, as pieces that each fit."""
    if _is_fence(block):
        parts = list(_code_pieces(block, limit))
    else:
        parts = [p for line in block.split("\n") for p in _line_pieces(line, limit)]
    for index, (piece, piece_sep) in enumerate(parts):
        yield piece, sep if index == 0 else piece_sep


def _code_pieces(block: str, limit: int) -> Iterator[Piece]:
    lines = block.split("\n")
    opener = lines[0].strip()
    body = lines[1:-1] if len(lines) > 1 and _is_fence(lines[-1]) else lines[1:]
    budget = limit - len(opener) - len(FENCE) - 2  # two newlines around the body
    chunk: list[str] = []
    size = 0
    for line in (part for raw in body for part in _hard_wrap(raw, budget)):
        if chunk and size + 1 + len(line) > budget:
            yield "\n".join([opener, *chunk, FENCE]), "\n"
            chunk, size = [], 0
        size += len(line) + (1 if chunk else 0)
        chunk.append(line)
    if chunk:
        yield "\n".join([opener, *chunk, FENCE]), "\n"


def _hard_wrap(line: str, width: int) -> list[str]:
    return [line[i : i + width] for i in range(0, len(line), width)] or [""]


def _line_pieces(line: str, limit: int) -> Iterator[Piece]:
    if len(line) <= limit:
        yield line, "\n"
    elif _CITATION.match(line):
        yield line[: limit - 1].rstrip() + "…", "\n"  # a citation is shortened, never cut
    else:
        first = True
        for sentence in _SENTENCE_BREAK.split(line):
            for piece, sep in _sentence_pieces(sentence, limit):
                yield piece, "\n" if first else sep
                first = False


def _sentence_pieces(sentence: str, limit: int) -> Iterator[Piece]:
    if len(sentence) <= limit:
        yield sentence, " "
        return
    for word in sentence.split(" "):
        for part_index, part in enumerate(_hard_wrap(word, limit)):
            yield part, "" if part_index else " "
