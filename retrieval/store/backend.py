"""What every store backend offers a collection: the records it returns (``StoredChunk``),
the one title rule (``title_key``), the interface of one collection's store (``Store``) and
the interface of a backend as a whole (``Backend``: opening a collection's store, its
writers' lock, whether a collection exists, the bot's follow-up memory, the voters' key).

Two backends implement it: SQLite files in the data directory (``sqlite`` behind
``collection.SqliteFiles``, the embedded default) and PostgreSQL with pgvector
(``postgres``, for several hosts). Either way the store is the source of truth; the FAISS and
BM25 indexes in the collection's local directory are caches keyed by the store's generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

import numpy as np

from retrieval.store.turns import TurnStore
from retrieval.types import ArticleInfo, Chunk


@dataclass(frozen=True)
class StoredChunk:
    id: int
    article_id: int
    title: str
    seq: int
    paragraph: int
    start: int
    end: int
    text: str


def title_key(title: str) -> str:
    return " ".join(title.casefold().split())


def now_text() -> str:
    """When an article was added, as both backends store it (ISO 8601, UTC, seconds)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def parse_ref(ref: str) -> int | None:
    """An article reference that is an id: ASCII digits only ("²" is a digit to Python) and
    within a 64-bit integer's range."""
    return int(ref) if ref.isascii() and ref.isdigit() and len(ref) <= 18 else None


class Store(Protocol):
    """One collection's source of truth. Every method is thread-safe; every change to
    articles or chunks bumps ``generation`` in the same transaction."""

    name: str
    read_only: bool
    refusal: str

    def close(self) -> None: ...
    def generation(self) -> int: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def list_articles(self) -> list[ArticleInfo]: ...
    def article_by_id(self, article_id: int) -> ArticleInfo | None: ...
    def article_by_title(self, title: str) -> ArticleInfo | None: ...
    def article_by_ref(self, ref: str) -> ArticleInfo | None: ...
    def article_by_hash(self, content_hash: str) -> ArticleInfo | None: ...
    def article_text(self, article_id: int) -> str: ...

    def put_article(self, *, title: str, source: str, content_hash: str, text: str,
                    chunks: Sequence[Chunk], vectors: np.ndarray, added_by: str | None,
                    added_at: str | None = None
                    ) -> tuple[ArticleInfo, list[int], list[int]]: ...

    def delete_article(self, article_id: int) -> list[int]: ...
    def chunks_by_ids(self, ids: Sequence[int]) -> dict[int, StoredChunk]: ...
    def chunks_of_article(self, article_id: int) -> list[StoredChunk]: ...
    def chunk_ids_of_article(self, article_id: int) -> list[int]: ...
    def all_chunks(self) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]: ...
    def chunk_ids(self) -> np.ndarray: ...
    def chunk_texts(self) -> tuple[np.ndarray, list[str]]: ...
    def chunk_count(self) -> int: ...
    def cached_summary(self, content_hash: str, length: str, model: str) -> str | None: ...
    def save_summary(self, content_hash: str, length: str, model: str, text: str) -> None: ...


class Backend(Protocol):
    """Where collections live. ``directory`` is the collection's local directory (its index
    caches; for SQLite its database too)."""

    name: str

    def open(self, directory: Path, name: str, *, lock_timeout_s: float,
             faults: object) -> Store: ...

    def exclusive(self, directory: Path, name: str,
                  timeout_s: float) -> AbstractContextManager[bool]:
        """The collection's writers' lock across processes (and hosts); raises
        ``filelock.LockTimeout`` after ``timeout_s``."""
        ...

    def exists(self, directory: Path, name: str) -> bool: ...

    def drop(self, directory: Path, name: str, timeout_s: float) -> None:
        """Delete the collection: its store and its local directory."""
        ...

    def turns(self, path: Path) -> TurnStore:
        """The follow-up memory (``path``: the data directory's file, for SQLite)."""
        ...

    def check_writable(self, store: Store, directory: Path) -> None:
        """Raise ``StorageError`` (one sentence) where a write could not be stored."""
        ...

    def member_key(self, path: Path) -> bytes:
        """The key that hashes voters in the question log, made on first use (``path``: the
        data directory's file, for SQLite; see ``voter_key``)."""
        ...
