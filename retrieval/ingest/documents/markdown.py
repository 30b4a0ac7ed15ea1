"""Markdown to plain paragraphs: headings, lists, quotes and code fences without their marks."""

from __future__ import annotations

import re

from retrieval.ingest.documents.common import _BULLET_RE, _normalise_line, _normalise_newlines
from retrieval.ingest.documents.plain import _plain_paragraphs, _title_from_paragraphs

_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
_ATX_RE = re.compile(r"^(#{1,6})(?:\s+(.*))?$")
_SETEXT_RE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
# Lines dropped whole: thematic breaks ("---", "* * *") and link reference definitions.
_DROPPED_RE = re.compile(r"^\s{0,3}(?:(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,})$|"
                         r"\[[^\[\]]*\]:\s*\S)")
_QUOTE_RE = re.compile(r"^\s{0,3}(?:>\s?)+")
# Negated classes keep these linear on hostile input (no nested quantifiers over "any").
_INLINE_SUBS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"!\[[^\[\]\n]*\]\([^()\n]*\)"), ""),
    (re.compile(r"!\[[^\[\]\n]*\]\[[^\[\]\n]*\]"), ""),
    (re.compile(r"\[([^\[\]\n]*)\]\([^()\n]*\)"), r"\1"),
    (re.compile(r"\[([^\[\]\n]*)\]\[[^\[\]\n]*\]"), r"\1"),
    (re.compile(r"<(https?://[^<>\s]*)>"), r"\1"),
    (re.compile(r"`([^`\n]*)`"), r"\1"),
    (re.compile(r"\*\*([^*\n]+)\*\*"), r"\1"),
    (re.compile(r"__([^_\n]+)__"), r"\1"),
    (re.compile(r"~~([^~\n]+)~~"), r"\1"),
    (re.compile(r"(?<![\w*])\*([^*\s](?:[^*\n]*[^*\s])?)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_([^_\s](?:[^_\n]*[^_\s])?)_(?![\w_])"), r"\1"),
)


def _parse_markdown(text: str) -> tuple[str | None, list[str]]:
    title, plain = _markdown_to_plain(text)
    paragraphs = list(_plain_paragraphs(plain))
    return title or _title_from_paragraphs(paragraphs[:3]), paragraphs


class _MarkdownText:
    """Plain text being built; inline markup is stripped per run of prose, not per line."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.prose: list[str] = []

    def add_code(self, line: str) -> None:
        self._flush()
        self.done.append(line)

    def pop_prose_line(self) -> str | None:
        """The previous line, if it was prose text (a setext heading's text)."""
        if self.prose and self.prose[-1].strip():
            return self.prose.pop()
        return None

    def text(self) -> str:
        self._flush()
        return "\n".join(self.done)

    def _flush(self) -> None:
        # One regex pass over many lines is far faster than eleven passes per line.
        if self.prose:
            self.done.append(_inline("\n".join(self.prose)))
            self.prose = []


def _markdown_to_plain(text: str) -> tuple[str | None, str]:
    """Strip markdown markup lightly; headings and list items become their own blocks."""
    title: str | None = None
    out = _MarkdownText()
    in_code = False
    previous_blank = True
    for line in _normalise_newlines(text).split("\n"):
        if _FENCE_RE.match(line):
            in_code = not in_code
            out.add_code("")
        elif in_code:
            out.add_code(line)
        else:
            heading = _heading(line, out, previous_blank)
            if heading is None:
                out.prose.extend(_markdown_line(line))
            else:
                level, heading_text = heading
                if level == 1 and title is None:
                    title = _normalise_line(_inline(heading_text)) or None
                out.prose.extend(["", heading_text, ""])
        previous_blank = not line.strip()
    return title, out.text()


def _heading(line: str, out: _MarkdownText, previous_blank: bool) -> tuple[int, str] | None:
    """An ATX heading, or a setext underline (which turns the line before into a heading)."""
    atx = _ATX_RE.match(line.strip()) if not line.startswith("    ") else None
    if atx:
        return len(atx.group(1)), _without_closing_hashes(atx.group(2) or "")
    setext = _SETEXT_RE.match(line)
    underlined = out.pop_prose_line() if setext and not previous_blank else None
    if setext and underlined is not None:
        return (1 if setext.group(1).startswith("=") else 2), underlined
    return None


def _without_closing_hashes(text: str) -> str:
    # "## Title ##": the closing run counts only when a space separates it from the text.
    trimmed = text.rstrip("#")
    return trimmed if trimmed != text and (not trimmed or trimmed[-1].isspace()) else text


def _markdown_line(line: str) -> list[str]:
    if _DROPPED_RE.match(line):
        return [""]
    line = _QUOTE_RE.sub("", line)
    bullet = _BULLET_RE.match(line)
    if bullet and not bullet.group(0).strip()[0].isdigit():
        # A list item starts its own block so items are not joined into one paragraph.
        return ["", line[bullet.end() :]]
    return [line]


def _inline(text: str) -> str:
    for pattern, replacement in _INLINE_SUBS:
        text = pattern.sub(replacement, text)
    return text
