"""HTML: the article text via trafilatura, with a plain-tag fallback."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from retrieval.errors import InputError
from retrieval.ingest.documents.common import MAX_TRAFILATURA_CHARS, _normalise_line

_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "head", "svg", "nav", "footer", "form"}
)
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "section",
        "article", "blockquote", "pre", "table", "tr", "header", "main", "aside", "figure",
        "figcaption", "dd", "dt", "hr",
    }
)  # fmt: skip


@dataclass
class _PlainHtml:
    """What the simple extractor found: visible text blocks, <title> and first <h1>."""

    blocks: list[list[str]]
    title: str
    h1: str

    def paragraphs(self) -> list[str]:
        texts = (_normalise_line("".join(parts)) for parts in self.blocks)
        return [text for text in texts if text]


def _parse_html(text: str, label: str) -> tuple[str | None, list[str]]:
    plain = _plain_html(text, label)
    extracted_title, extracted = _trafilatura_extract(text)
    paragraphs = [p for p in (_normalise_line(x) for x in extracted) if p]
    if not paragraphs:
        # Short pages fall under trafilatura's minimum size; plain visible text is fine then.
        paragraphs = plain.paragraphs()
    if not paragraphs:
        raise InputError(f"{label} has no article text.")
    return extracted_title or plain.title or plain.h1 or None, paragraphs


def _plain_html(text: str, label: str) -> _PlainHtml:
    """Visible text split at block tags, without scripts, styles or navigation.

    libxml2 parses in linear time and caps nesting depth; the walk below is iterative, so
    hostile nesting can neither recurse nor hang (the standard library's parser can).
    """
    try:
        from lxml import etree
    except ImportError:  # lxml comes with trafilatura; without it there is no HTML support
        raise InputError(f"{label} cannot be read: HTML support is not installed.") from None
    try:
        parser = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True)
        root = etree.fromstring(text.encode("utf-8", "replace"), parser)
        if root is None:
            return _PlainHtml([], "", "")
        return _walk_html(etree.iterwalk(root, events=("start", "end")))
    except (RecursionError, MemoryError, ValueError, etree.LxmlError):
        raise InputError(f"{label} is not readable HTML.") from None


def _walk_html(events: Iterable[tuple[str, Any]]) -> _PlainHtml:
    found = _PlainHtml([[]], "", "")
    skipping = 0
    for event, element in events:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag == "title" and not found.title:
                found.title = _normalise_line("".join(element.itertext()))
            if tag == "h1" and not found.h1:
                found.h1 = _normalise_line("".join(element.itertext()))
            skipping += tag in _SKIP_TAGS
            _html_text(found, tag, element.text, skipping)
        else:
            skipping -= tag in _SKIP_TAGS
            _html_text(found, tag, element.tail, skipping)
    return found


def _html_text(found: _PlainHtml, tag: str, text: str | None, skipping: int) -> None:
    if tag in _BLOCK_TAGS and found.blocks[-1]:
        found.blocks.append([])
    if text and not skipping:
        found.blocks[-1].append(text)


def _trafilatura_extract(text: str) -> tuple[str | None, list[str]]:
    """Main article text and title via trafilatura; any failure falls back to nothing."""
    if len(text) > MAX_TRAFILATURA_CHARS:
        return None, []
    try:
        import trafilatura
    except ImportError:  # keep working, with the simple extractor only
        return None, []
    try:
        result = trafilatura.bare_extraction(
            text,
            include_comments=False,
            include_tables=False,
            favor_precision=True,
            with_metadata=True,
        )
    except Exception:  # parser errors, RecursionError on hostile pages: use the fallback
        return None, []
    title = _normalise_line(_field(result, "title") or "") or None
    body = _field(result, "text") or ""
    return title, body.split("\n")


def _field(result: object, name: str) -> str | None:
    # trafilatura 1.x returns a dict, 2.x a Document object.
    value = result.get(name) if isinstance(result, dict) else getattr(result, name, None)
    return value if isinstance(value, str) else None
