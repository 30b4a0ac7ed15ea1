"""Turn an uploaded or fetched file into a clean title and paragraphs. No network here.

Every problem a user can cause (empty, binary, unsupported, too large, encrypted, ...)
becomes an ``InputError`` whose message is one sentence naming the file.

Part of ``retrieval.ingest`` (layer 3); it needs only layer 0 (``retrieval.errors``), and
the bot reads its list of supported types.
"""

from __future__ import annotations

from pathlib import Path

from retrieval.errors import InputError
from retrieval.ingest.documents.common import (
    DEFAULT_MAX_BYTES,
    MAX_PDF_PAGES,
    MAX_PDF_TEXT_CHARS,
    SUPPORTED_SUFFIXES,
    SUPPORTED_TYPES,
    Kind,
    ParsedDocument,
    _check_size,
    _label,
    _os_reason,
    format_size,
)
from retrieval.ingest.documents.detect import _charset, _decode_text, _detect_kind
from retrieval.ingest.documents.finish import _finish_paragraphs, _guessed_title, _title_line
from retrieval.ingest.documents.html import _parse_html
from retrieval.ingest.documents.markdown import _parse_markdown
from retrieval.ingest.documents.pdf import _parse_pdf
from retrieval.ingest.documents.plain import _parse_plain

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_PDF_PAGES",
    "MAX_PDF_TEXT_CHARS",
    "SUPPORTED_SUFFIXES",
    "SUPPORTED_TYPES",
    "Kind",
    "ParsedDocument",
    "clean_title",
    "format_size",
    "parse_document",
    "read_path",
]




def parse_document(
    data: bytes,
    name: str,
    *,
    title: str | None = None,
    content_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_title_chars: int = 200,
) -> ParsedDocument:
    """Parse ``data`` (a file called ``name``, see ``SUPPORTED_SUFFIXES``) into a document."""
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
