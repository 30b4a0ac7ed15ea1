"""Plain text: paragraphs from blank lines, hard-wrapped lines joined, a title guessed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from retrieval.ingest.documents.common import (
    _BULLET_RE,
    MAX_GUESSED_TITLE_CHARS,
    _normalise_line,
    _normalise_newlines,
)

_SENTENCE_END_RE = re.compile(r"[.!?:;…][\"'”’)\]]*$")
_TITLE_END_RE = re.compile(r"[.!?][\"'”’)\]]*$")
_WORD_RE = re.compile(r"\w")


def _parse_plain(text: str) -> tuple[str | None, list[str]]:
    paragraphs = list(_plain_paragraphs(text))
    return _title_from_paragraphs(paragraphs[:3]), paragraphs


def _plain_paragraphs(text: str) -> Iterator[str]:
    for block in _blocks(text):
        yield from _block_paragraphs(block)


def _blocks(text: str) -> Iterator[list[str]]:
    """Split text into blocks of non-blank lines, at blank lines."""
    block: list[str] = []
    for raw in _normalise_newlines(text).split("\n"):
        line = _normalise_line(raw)
        if line:
            block.append(line)
        elif block:
            yield block
            block = []
    if block:
        yield block


def _block_paragraphs(lines: list[str]) -> list[str]:
    if _looks_hard_wrapped(lines):
        return _join_wrapped(lines)
    if len(lines) >= 3 and _is_heading_line(lines[0], lines[1:]) and _looks_hard_wrapped(lines[1:]):
        return [lines[0], *_join_wrapped(lines[1:])]
    return lines


def _looks_hard_wrapped(lines: list[str]) -> bool:
    """True when the lines are one paragraph broken at a fixed width, not separate lines."""
    if len(lines) < 2:
        return False
    if sum(bool(_BULLET_RE.match(line)) for line in lines) * 2 >= len(lines):
        return False
    body, last = lines[:-1], lines[-1]
    width = max(len(line) for line in body)
    # With wrapping, no line (the last included) is much longer than the wrap width.
    if len(last) > width + 12:
        return False
    ending = sum(bool(_SENTENCE_END_RE.search(line)) for line in body)
    if ending * 2 >= len(body):
        return False
    similar = sum(len(line) >= 0.6 * width for line in body)
    return similar >= 0.8 * len(body)


def _is_heading_line(first: str, rest: list[str]) -> bool:
    width = max(len(line) for line in rest)
    return _is_title_like(first) and len(first) < 0.6 * width


def _join_wrapped(lines: list[str]) -> list[str]:
    """Join wrapped lines; a short line ending a sentence still ends its paragraph."""
    width = max(len(line) for line in lines[:-1])
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        current.append(line)
        if _SENTENCE_END_RE.search(line) and len(line) < 0.75 * width:
            paragraphs.append(_join_lines(current))
            current = []
    if current:
        paragraphs.append(_join_lines(current))
    return paragraphs


def _join_lines(lines: list[str]) -> str:
    parts: list[str] = []
    for index, line in enumerate(lines):
        previous = lines[index - 1] if index else ""
        # "well-" + "known" was split at a hyphen: keep the hyphen, drop the space.
        hyphenated = previous.endswith("-") and len(previous) > 1 and previous[-2].isalpha()
        parts.append(line if not index or hyphenated else " " + line)
    return "".join(parts)


def _title_from_paragraphs(candidates: Iterable[str]) -> str | None:
    for candidate in candidates:
        if _is_title_like(candidate):
            return candidate
    return None


def _is_title_like(line: str) -> bool:
    return (
        len(line) <= MAX_GUESSED_TITLE_CHARS
        and not _TITLE_END_RE.search(line)
        and not line.endswith((",", "-"))  # a sentence broken mid-way, not a headline
        and not _BULLET_RE.match(line)
        and _WORD_RE.search(line) is not None
    )
