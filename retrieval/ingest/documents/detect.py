"""Which format a file is, and its bytes decoded to text (BOMs, declared and guessed charsets)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from retrieval.errors import InputError
from retrieval.ingest.documents.common import (
    _BINARY_MAGIC,
    _CONTENT_TYPES,
    _CONTROL_RE,
    _GENERIC_MIMES,
    _SUFFIX_RE,
    _SUFFIXES,
    _TEXT_BOMS,
    MAX_CONTROL_SHARE,
    SUPPORTED_TYPES,
    Kind,
)


def _detect_kind(data: bytes, name: str, label: str, content_type: str | None) -> Kind:
    mime = _mime(content_type)
    suffix = _suffix(name)
    kind = _CONTENT_TYPES.get(mime) or _SUFFIXES.get(suffix) or _sniff(data)
    if kind is not None:
        return kind
    if mime.startswith("text/"):
        return "txt"
    if suffix or mime not in _GENERIC_MIMES:
        raise InputError(f"{label} is not a supported file type; use {SUPPORTED_TYPES}.")
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
