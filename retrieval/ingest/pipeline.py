"""Storing articles: read or parse, chunk, embed, then commit each article in its own
transaction (SQLite first, then the collection's indexes).

An article whose text is already stored is reported ``unchanged`` and costs no embedding.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from config import Settings
from retrieval.errors import ArticlebotError, InputError
from retrieval.ingest.chunking import chunk_paragraphs
from retrieval.ingest.documents import ParsedDocument, parse_document, read_path
from retrieval.ingest.fetch import fetch_url
from retrieval.models.embedder import Embedder
from retrieval.store.collection import Collection
from retrieval.types import Chunk, IngestResult

OnResult = Callable[[Path, IngestResult | ArticlebotError], None]


def content_hash(document: ParsedDocument) -> str:
    return hashlib.sha256(document.text.encode()).hexdigest()


class Ingestion:
    """The ingestion pipeline of one Engine; ``collection(name)`` opens the target."""

    def __init__(self, settings: Settings, embedder: Embedder,
                 collection: Callable[[str | None], Collection]):
        self.settings = settings
        self.embedder = embedder
        self.collection = collection

    def ingest_bytes(self, data: bytes, name: str, *, collection: str | None = None,
                     title: str | None = None, added_by: str | None = None,
                     content_type: str | None = None, source: str | None = None
                     ) -> IngestResult:
        limits = self.settings.limits
        document = parse_document(data, name, title=title, content_type=content_type,
                                  max_bytes=limits.max_file_bytes,
                                  max_title_chars=limits.max_title_chars)
        if source:
            document = ParsedDocument(document.title, document.paragraphs, source)
        return self.store_document(self.collection(collection), document, added_by=added_by)

    def ingest_path(self, path: Path, *, collection: str | None = None,
                    title: str | None = None, added_by: str | None = None) -> IngestResult:
        document = self._read_document(path, title)
        return self.store_document(self.collection(collection), document, added_by=added_by)

    def ingest_url(self, url: str, *, collection: str | None = None, title: str | None = None,
                   added_by: str | None = None) -> IngestResult:
        limits = self.settings.limits
        fetched = fetch_url(url, timeout_s=limits.url_timeout_s, max_bytes=limits.max_file_bytes,
                            allow_private=limits.allow_private_urls)
        return self.ingest_bytes(fetched.data, fetched.name, collection=collection, title=title,
                                 added_by=added_by, content_type=fetched.content_type,
                                 source=fetched.url)

    def ingest_paths(self, paths: Sequence[Path], *, collection: str | None = None,
                     added_by: str | None = None,
                     on_result: OnResult) -> None:
        """Store many files; each result (or the user error) is passed to ``on_result``.

        Chunks of several articles are embedded together, in batches the size the embedder
        is fastest at, while every article is still committed in its own transaction.
        """
        target = self.collection(collection)
        pending: list[tuple[Path, ParsedDocument, list[Chunk], float]] = []
        threshold = 4 * self.settings.embedding.batch_size
        with target.batch():
            for path in paths:
                started = time.perf_counter()
                try:
                    document = self._read_document(path)
                    existing = target.store.article_by_hash(content_hash(document))
                    if existing is not None:
                        on_result(path, IngestResult(existing, "unchanged",
                                                     time.perf_counter() - started))
                        continue
                    pending.append((path, document, self._chunk(document), started))
                except ArticlebotError as exc:
                    on_result(path, exc)
                    continue
                if sum(len(chunks) for _, _, chunks, _ in pending) >= threshold:
                    self._store_pending(target, pending, added_by, on_result)
                    pending = []
            self._store_pending(target, pending, added_by, on_result)

    def _store_pending(self, target: Collection,
                       pending: list[tuple[Path, ParsedDocument, list[Chunk], float]],
                       added_by: str | None,
                       on_result: OnResult) -> None:
        if not pending:
            return
        texts = [self._embedding_text(d, c) for _, d, chunks, _ in pending for c in chunks]
        vectors = self.embedder.embed(texts)
        offset = 0
        for path, document, chunks, started in pending:
            own = vectors[offset : offset + len(chunks)]
            offset += len(chunks)
            try:
                on_result(path, self._commit(target, document, chunks, own, added_by, started))
            except ArticlebotError as exc:
                on_result(path, exc)

    def _read_document(self, path: Path, title: str | None = None) -> ParsedDocument:
        limits = self.settings.limits
        data = read_path(path, max_bytes=limits.max_file_bytes)
        document = parse_document(data, path.name, title=title, max_bytes=limits.max_file_bytes,
                                  max_title_chars=limits.max_title_chars)
        return ParsedDocument(document.title, document.paragraphs, str(path))

    def _chunk(self, document: ParsedDocument) -> list[Chunk]:
        chunks = chunk_paragraphs(document.paragraphs, self.embedder.count_tokens,
                                  max_tokens=self.settings.chunking.max_tokens,
                                  overlap_sentences=self.settings.chunking.overlap_sentences)
        if not chunks:
            raise InputError(f"{document.source} has no text to index.")
        return chunks

    def _embedding_text(self, document: ParsedDocument, chunk: Chunk) -> str:
        prefix = f"{document.title}\n" if self.settings.embedding.title_prefix else ""
        return prefix + chunk.text

    def store_document(self, collection: Collection, document: ParsedDocument, *,
                        added_by: str | None) -> IngestResult:
        started = time.perf_counter()
        existing = collection.store.article_by_hash(content_hash(document))
        if existing is not None:
            return IngestResult(existing, "unchanged", time.perf_counter() - started)
        chunks = self._chunk(document)
        vectors = self.embedder.embed([self._embedding_text(document, c) for c in chunks])
        return self._commit(collection, document, chunks, vectors, added_by, started)

    def _commit(self, collection: Collection, document: ParsedDocument, chunks: list[Chunk],
                vectors: np.ndarray, added_by: str | None, started: float) -> IngestResult:
        digest = content_hash(document)
        collection.check_writable()
        with collection.writing():  # other threads and processes wait here
            existing = collection.store.article_by_hash(digest)  # a twin stored meanwhile
            if existing is not None:
                return IngestResult(existing, "unchanged", time.perf_counter() - started)
            replaced = collection.store.article_by_title(document.title) is not None
            info, added_ids, removed_ids = collection.store.put_article(
                title=document.title, source=document.source, content_hash=digest,
                text=document.text, chunks=chunks, vectors=vectors, added_by=added_by)
            collection.apply(added_ids, vectors, removed_ids)
        status: Literal["added", "replaced"] = "replaced" if replaced else "added"
        return IngestResult(info, status, time.perf_counter() - started)
