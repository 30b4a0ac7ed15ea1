"""A corpus of hostile uploads, shared by the CLI and Discord upload tests.

Each entry: (file name, bytes, a phrase the refusal must contain). Built lazily: some are big.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import zipfile
from collections.abc import Callable

from pypdf import PdfWriter

Hostile = tuple[str, bytes, str]


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.txt", b"\0" * (50 * 1024 * 1024))
    return buffer.getvalue()


def _encrypted_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _high_bytes() -> bytes:
    rng = random.Random(2)
    return bytes(rng.randint(128, 255) for _ in range(4000))


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(512)


BUILDERS: dict[str, Callable[[], Hostile]] = {
    "empty": lambda: ("empty.txt", b"", "empty"),
    "whitespace": lambda: ("blank.txt", b" \n\t\r\n   \n", "empty"),
    "random-bytes": lambda: ("noise.txt", random.Random(1).randbytes(4096), "binary"),
    "png-renamed": lambda: ("photo.txt", _png(), "binary"),
    "too-big": lambda: ("huge.txt", b"word " * (11 * 1024 * 1024 // 5), "limit"),
    "script-style-only": lambda: (
        "tags.html", b"<html><head><style>p{}</style></head><body><script>alert(1)</script>"
        b"</body></html>", "no article text"),
    "deep-nesting": lambda: ("deep.html", b"<div>" * 10000 + b"x" + b"</div>" * 10000,
                             "no article text"),
    "malformed-pdf": lambda: ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF",
                              "PDF"),
    "encrypted-pdf": lambda: ("locked.pdf", _encrypted_pdf(), "encrypted"),
    "zip-bomb-as-pdf": lambda: ("bomb.pdf", _zip_bomb(), "PDF"),
    "zip-bomb-as-html": lambda: ("bomb.html", _zip_bomb(), "binary"),
    "gzip-as-txt": lambda: ("notes.txt", gzip.compress(b"a" * 100000), "binary"),
    "unsupported-type": lambda: ("report.docx", b"PK\x03\x04" + bytes(100), "supported"),
    "invalid-utf8-high-bytes": lambda: (
        "mixed.txt", _high_bytes(), "text"),
    "utf16-bom-then-noise": lambda: (
        "bom.txt", b"\xff\xfe" + random.Random(3).randbytes(4000).replace(b"\0", b"a"), "text"),
}


def corpus() -> list[tuple[str, Hostile]]:
    return [(name, build()) for name, build in BUILDERS.items()]
