"""Constants, the parsed-document type, size checks and line normalising for every format."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal, get_args

from retrieval.errors import InputError

Kind = Literal["txt", "md", "html", "pdf"]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_PDF_PAGES = 500
# A small PDF can expand to far more text than its size suggests; stop collecting there.
MAX_PDF_TEXT_CHARS = 5_000_000
# Guessed titles longer than this read like a sentence, not a headline.
MAX_GUESSED_TITLE_CHARS = 150
# trafilatura takes seconds per megabyte; bigger pages get the simple extractor only.
MAX_TRAFILATURA_CHARS = 4_000_000
# Above this share of control characters, decoded "text" is really binary data.
MAX_CONTROL_SHARE = 0.05

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
# The one list of file types: folder scans, messages and Discord's help all read these.
SUPPORTED_SUFFIXES = tuple(_SUFFIXES)
SUPPORTED_TYPES = ", ".join(f".{k}" for k in get_args(Kind)[:-1]) + f" or .{get_args(Kind)[-1]}"
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
_BULLET_RE = re.compile(r"^\s*(?:[-*+•▪◦‣]|\d{1,3}[.)])\s+")
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
