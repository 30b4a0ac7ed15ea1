"""The last pass for every format: repeated paragraphs dropped, a title chosen."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from retrieval.ingest.documents.common import _BIDI_RE, _normalise_line
from retrieval.ingest.documents.detect import _suffix


def _key(text: str) -> str:
    return _normalise_line(text).casefold()


def _finish_paragraphs(paragraphs: Iterable[str], title: str) -> tuple[str, ...]:
    """Clean, drop duplicates (first one wins) and drop the title repeated as a paragraph."""
    title_key = _key(title)
    seen: set[str] = set()
    kept: list[str] = []
    title_seen = False
    for raw in paragraphs:
        paragraph = _normalise_line(raw)
        key = paragraph.casefold()
        if not paragraph or key in seen:
            continue
        seen.add(key)
        if key == title_key:
            title_seen = True
            continue
        kept.append(paragraph)
    if not kept and title_seen:
        # A file holding only its title line still has that line as its text.
        kept.append(title)
    return tuple(kept)


def _guessed_title(found: str | None, name: str, max_chars: int) -> str:
    title = _title_line(found or "") or _title_line(_title_from_name(name)) or "Untitled"
    return _shorten(title, max_chars)


def _title_line(text: str) -> str:
    return _normalise_line(_BIDI_RE.sub("", text))


def _title_from_name(name: str) -> str:
    """Humanise a file name: "my_article-2.txt" -> "My article 2"."""
    stripped = name.strip().rstrip("/")
    base = PurePosixPath(stripped).name if stripped else ""
    suffix = _suffix(base)
    stem = base[: -len(suffix)] if suffix else base
    words = _normalise_line(re.sub(r"[_\-.+]+", " ", stem))
    if not words:
        return "Untitled"
    return words[0].upper() + words[1:]


def _shorten(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[: max(max_chars - 1, 1)]
    if " " in cut[len(cut) // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "…" if max_chars > 1 else cut[:max_chars]
