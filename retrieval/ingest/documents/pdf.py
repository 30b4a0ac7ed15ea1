"""PDF: text of the pages, bounded in pages and characters; encrypted or broken files refused."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING, Any

from retrieval.errors import InputError
from retrieval.ingest.documents.common import MAX_PDF_PAGES, MAX_PDF_TEXT_CHARS, _normalise_line
from retrieval.ingest.documents.plain import _plain_paragraphs, _title_from_paragraphs

if TYPE_CHECKING:  # pypdf is imported lazily: most documents are not PDFs
    from pypdf import PdfReader

log = logging.getLogger(__name__)

# Text extraction costs about a second per megabyte of decoded page content; a tiny file can
# point every page at one huge compressed stream. Pages with the very same content streams
# are read once, and reading stops after this much decoded content in all.
MAX_PDF_CONTENT_BYTES = 16 * 1024 * 1024

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
