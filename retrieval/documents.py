"""Turn an uploaded or fetched file into a clean title and paragraphs. No network here.

Every problem a user can cause (empty, binary, unsupported, too large, encrypted, ...)
becomes an ``InputError`` whose message is one sentence naming the file.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from retrieval.errors import InputError

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # pypdf is imported lazily: most documents are not PDFs
    from pypdf import PdfReader

Kind = Literal["txt", "md", "html", "pdf"]

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_PDF_PAGES = 500
# A small PDF can expand to far more text than its size suggests; stop collecting there.
MAX_PDF_TEXT_CHARS = 5_000_000
# Text extraction costs about a second per megabyte of decoded page content; a tiny file can
# point every page at one huge compressed stream. Pages with the very same content streams
# are read once, and reading stops after this much decoded content in all.
MAX_PDF_CONTENT_BYTES = 16 * 1024 * 1024
# Guessed titles longer than this read like a sentence, not a headline.
MAX_GUESSED_TITLE_CHARS = 150
# trafilatura takes seconds per megabyte; bigger pages get the simple extractor only.
MAX_TRAFILATURA_CHARS = 4_000_000
# Above this share of control characters, decoded "text" is really binary data.
MAX_CONTROL_SHARE = 0.05

_SUPPORTED_LIST = ".txt, .md, .html and .pdf"

_CONTENT_TYPES: dict[str, Kind] = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
}
_SUFFIXES: dict[str, Kind] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
}
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
)
_TEXT_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# Invisible characters that only get in the way of search: zero-width marks, soft hyphen, BOM.
_INVISIBLE_RE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")
# Bidirectional controls (embeddings, overrides, isolates, marks): in a title they can make
# one article's name display as another's. Body text keeps them (right-to-left languages).
_BIDI_RE = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACE_RE = re.compile(r"\s+")
_SENTENCE_END_RE = re.compile(r"[.!?:;…][\"'”’)\]]*$")
_TITLE_END_RE = re.compile(r"[.!?][\"'”’)\]]*$")
_BULLET_RE = re.compile(r"^\s*(?:[-*+•▪◦‣]|\d{1,3}[.)])\s+")
_WORD_RE = re.compile(r"\w")
_SUFFIX_RE = re.compile(r"^\.[a-z][a-z0-9]{0,9}$")
_GENERIC_MIMES = frozenset({"", "application/octet-stream", "binary/octet-stream"})


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    paragraphs: tuple[str, ...]  # cleaned, non-empty, no duplicates
    source: str  # file name or URL as given

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


# ---------------------------------------------------------------------------- entry points


def parse_document(
    data: bytes,
    name: str,
    *,
    title: str | None = None,
    content_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_title_chars: int = 200,
) -> ParsedDocument:
    """Parse ``data`` (a .txt, .md, .html or .pdf file called ``name``) into a document."""
    label = _label(name)
    _check_size(len(data), max_bytes, label)
    given_title = clean_title(title, max_title_chars) if title is not None else None
    if not data.strip():
        raise InputError(f"{label} is empty.")
    kind = _detect_kind(data, name, label, content_type)
    if kind == "pdf":
        found_title, paragraphs = _parse_pdf(data, label)
    else:
        text = _decode_text(data, label, _charset(content_type))
        if not text.strip():
            raise InputError(f"{label} is empty.")
        if kind == "html":
            found_title, paragraphs = _parse_html(text, label)
        elif kind == "md":
            found_title, paragraphs = _parse_markdown(text)
        else:
            found_title, paragraphs = _parse_plain(text)
    final_title = given_title or _guessed_title(found_title, name, max_title_chars)
    body = _finish_paragraphs(paragraphs, final_title)
    if not body:
        raise InputError(f"{label} has no text.")
    return ParsedDocument(title=final_title, paragraphs=body, source=name)


def read_path(path: Path, *, max_bytes: int) -> bytes:
    """Read a local file, refusing oversized or special files before reading them."""
    label = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{label} does not exist.") from None
    except OSError as exc:
        raise InputError(f"{label} could not be read: {_os_reason(exc)}.") from None
    if path.is_dir():
        raise InputError(f"{label} is a folder, not a file.")
    if not path.is_file():
        # FIFOs and devices could block forever or never end.
        raise InputError(f"{label} is not a regular file.")
    _check_size(info.st_size, max_bytes, label)
    try:
        with path.open("rb") as handle:
            # One byte more than allowed tells us whether the file grew since stat().
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{label} could not be read: {_os_reason(exc)}.") from None
    _check_size(len(data), max_bytes, label)
    return data


def clean_title(title: str, max_chars: int) -> str:
    """Strip control characters and extra whitespace from a user-given title."""
    cleaned = _title_line(title)
    if not cleaned:
        raise InputError("The title is empty.")
    if len(cleaned) > max_chars:
        raise InputError(
            f"The title is {len(cleaned):,} characters long; the limit is {max_chars:,}."
        )
    return cleaned


# ---------------------------------------------------------------------------- checks


def _label(name: str) -> str:
    """The name as shown in messages: one line, not absurdly long."""
    shown = _normalise_line(name) or "The file"
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _check_size(size: int, max_bytes: int, label: str) -> None:
    if size > max_bytes:
        raise InputError(f"{label} is {format_size(size)}; the limit is {format_size(max_bytes)}.")


def format_size(size: int) -> str:
    """A byte count for messages: "12.3 MB", "2 KB", "100 bytes"."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            value = f"{size / factor:.1f}".removesuffix(".0")
            return f"{value} {unit}"
    return f"{size} bytes"


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def _detect_kind(data: bytes, name: str, label: str, content_type: str | None) -> Kind:
    mime = _mime(content_type)
    suffix = _suffix(name)
    kind = _CONTENT_TYPES.get(mime) or _SUFFIXES.get(suffix) or _sniff(data)
    if kind is not None:
        return kind
    if mime.startswith("text/"):
        return "txt"
    if suffix or mime not in _GENERIC_MIMES:
        raise InputError(f"{label} is not a supported file type; use {_SUPPORTED_LIST}.")
    # No suffix and no useful type (e.g. a URL such as /news/12345): try it as text;
    # binary data is still caught while decoding.
    return "txt"


def _suffix(name: str) -> str:
    suffix = PurePosixPath(name.strip()).suffix.lower()
    # "Mr. Smith goes" has no real suffix; neither does a version number like "v1.2".
    return suffix if _SUFFIX_RE.match(suffix) else ""


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _charset(content_type: str | None) -> str | None:
    match = re.search(r"charset\s*=\s*\"?([\w.:-]+)", content_type or "", re.IGNORECASE)
    return match.group(1) if match else None


def _sniff(data: bytes) -> Kind | None:
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF-") or b"%PDF-" in data[:1024]:
        return "pdf"
    lowered = head.lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered:
        return "html"
    return None


def _binary_kind(data: bytes) -> str | None:
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            return what
    return None


# ---------------------------------------------------------------------------- decoding


def _decode_text(data: bytes, label: str, declared: str | None) -> str:
    """Decode text: UTF-8 first, then the declared or detected encoding, then cp1252/latin-1."""
    for bom, codec in _TEXT_BOMS:
        if data.startswith(bom):
            return _decode_with_bom(data[len(bom) :], codec, label)
    binary = _binary_kind(data)
    if binary is not None or b"\x00" in data:
        what = f" ({binary})" if binary else ""
        raise InputError(f"{label} looks like a binary file{what}, not text.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = _decode_fallback(data, label, declared)
    if not _looks_like_text(text):
        raise InputError(f"{label} looks like a binary file, not text.")
    return text


def _decode_with_bom(data: bytes, codec: str, label: str) -> str:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        raise InputError(f"{label} is not valid {codec.upper()} text.") from None
    if not _looks_like_text(text) or _is_gibberish(text):
        raise InputError(f"{label} looks like a binary file, not text.")
    return text


def _decode_fallback(data: bytes, label: str, declared: str | None) -> str:
    for candidate in _fallback_decodings(data, declared):
        if candidate is not None and _looks_like_text(candidate):
            return candidate
    raise InputError(f"{label} is not valid UTF-8 text, and its encoding could not be detected.")


def _fallback_decodings(data: bytes, declared: str | None) -> Iterator[str | None]:
    if declared:
        yield _try_decode(data, declared)
    yield _detect_with_charset_normalizer(data)
    # cp1252 before latin-1: Windows text uses 0x80-0x9f for curly quotes and dashes. Both
    # decode almost any bytes, so their result must read mostly as Latin-script text.
    for codec in ("cp1252", "latin-1"):
        candidate = _try_decode(data, codec)
        if candidate is not None and _mostly_latin(candidate):
            yield candidate


def _is_gibberish(text: str) -> bool:
    """Noise that decoded without error: real text keeps to a few scripts (Latin, CJK and
    Hiragana, Cyrillic, ...); decoded random bytes scatter over dozens."""
    import unicodedata
    from collections import Counter

    scripts = Counter(unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
                      for ch in text[:20000] if not (ch.isspace() or ch.isdigit()))
    total = sum(scripts.values())
    return total > 0 and sum(n for _, n in scripts.most_common(4)) < 0.8 * total


def _mostly_latin(text: str) -> bool:
    plain = sum(ch.isascii() and (ch.isalnum() or ch.isspace() or ch in ".,;:'\"!?()-")
                for ch in text)
    return plain >= 0.7 * len(text)


def _try_decode(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (LookupError, UnicodeDecodeError):
        return None


def _detect_with_charset_normalizer(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # optional: it usually comes with requests
        return None
    try:
        best = from_bytes(data).best()
    except Exception:  # a detector failure just means "try the next decoding"
        return None
    # Random bytes also "decode" (as cp949, say) but match no language at all.
    return None if best is None or best.coherence == 0.0 else str(best)


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    controls = len(_CONTROL_RE.findall(text))
    return controls / len(text) <= MAX_CONTROL_SHARE


# ---------------------------------------------------------------------------- plain text


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


# ---------------------------------------------------------------------------- markdown

_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
_ATX_RE = re.compile(r"^(#{1,6})(?:\s+(.*))?$")
_SETEXT_RE = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_RULE_RE = re.compile(r"^\s{0,3}(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,})$")
_REF_DEF_RE = re.compile(r"^\s{0,3}\[[^\[\]]*\]:\s*\S")
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
    if _RULE_RE.match(line) or _REF_DEF_RE.match(line):
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


# ---------------------------------------------------------------------------- html

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


# ---------------------------------------------------------------------------- pdf


def _parse_pdf(data: bytes, label: str) -> tuple[str | None, list[str]]:
    reader = _open_pdf(data, label)
    text = _pdf_text(reader, label)
    paragraphs = list(_plain_paragraphs(text))
    if not paragraphs:
        raise InputError(
            f"{label} has no extractable text; it may be a scanned image, which is not supported."
        )
    return _pdf_title(reader) or _title_from_paragraphs(paragraphs[:3]), paragraphs


def _open_pdf(data: bytes, label: str) -> PdfReader:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise InputError(f"{label} cannot be read: PDF support is not installed.") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception:  # pypdf raises many kinds of errors on malformed files
        raise InputError(f"{label} is not a readable PDF.") from None
    if encrypted and not _decrypt_with_empty_password(reader):
        raise InputError(f"{label} is encrypted.")
    return reader


def _decrypt_with_empty_password(reader: PdfReader) -> bool:
    # Many PDFs are "encrypted" only against editing, with an empty user password.
    try:
        result = reader.decrypt("")
    except Exception:  # e.g. an unsupported algorithm, or a missing crypto library
        return False
    return bool(result)


def _pdf_text(reader: PdfReader, label: str) -> str:
    parts: list[str] = []
    total = 0
    content_bytes = 0
    seen: set[tuple[tuple[int, int], ...]] = set()
    try:
        for index, page in enumerate(reader.pages):
            if index >= MAX_PDF_PAGES or total >= MAX_PDF_TEXT_CHARS:
                break
            key, size = _page_contents(page)
            if key is not None and key in seen:
                continue  # the same content as an earlier page: the same text
            if key is not None:
                seen.add(key)
            content_bytes += size
            if content_bytes > MAX_PDF_CONTENT_BYTES:
                log.warning("%s: stopped reading at page %d (content budget spent)", label,
                            index + 1)
                break
            page_text = page.extract_text() or ""
            parts.append(page_text)
            total += len(page_text)
    except Exception:  # a damaged page tree or content stream
        raise InputError(f"{label} is not a readable PDF.") from None
    # A page break ends a paragraph only when a blank line would; keep pages apart.
    return "\n\n".join(parts)


def _page_contents(page: Any) -> tuple[tuple[tuple[int, int], ...] | None, int]:
    """The identity of a page's content streams (None when they are not shared objects)
    and their decoded size (pypdf keeps the decoded data for the extraction)."""
    raw = dict.get(page, "/Contents")
    if raw is None:
        return None, 0
    resolved = raw.get_object()
    items = list(resolved) if isinstance(resolved, list) else [raw]
    key: list[tuple[int, int]] = []
    size = 0
    for item in items:
        if hasattr(item, "idnum"):
            key.append((int(item.idnum), int(item.generation)))
        stream = item.get_object()
        if hasattr(stream, "get_data"):
            size += len(stream.get_data())
    return (tuple(key) if len(key) == len(items) else None), size


def _pdf_title(reader: PdfReader) -> str | None:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # broken metadata must not spoil an otherwise readable file
        return None
    if not isinstance(title, str):
        return None
    title = _normalise_line(title)
    # Metadata titles are often junk left by the authoring tool ("Microsoft Word - x.doc").
    if not title or title.lower().startswith(("microsoft word", "untitled")):
        return None
    return title


# ---------------------------------------------------------------------------- finishing


def _normalise_newlines(text: str) -> str:
    return (
        text.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\u2028", "\n")
        .replace("\u2029", "\n\n")
    )


def _normalise_line(text: str) -> str:
    text = _CONTROL_RE.sub(" ", text)
    text = _INVISIBLE_RE.sub("", text)
    return _SPACE_RE.sub(" ", text).strip()


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
