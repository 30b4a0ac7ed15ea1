"""SQLite, the source of truth of one collection: articles, chunks and their vectors.

Every change bumps ``meta.generation`` in the same transaction, so the rebuildable indexes
(FAISS, BM25) can tell whether they are current. Chunk ids come from AUTOINCREMENT and are
never reused, so they serve as stable FAISS ids.

A new database is set up (WAL, then the schema, then ``user_version``) under the caller's
``setup_lock``, because two connections switching one file to WAL at once fail at once:
SQLite answers one of them "database is locked" without waiting (it would deadlock
otherwise), whatever the busy timeout. Once set up, connections only wait their turn.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import StorageError
from retrieval.store.backend import StoredChunk, now_text, parse_ref, title_key
from retrieval.store.faults import (
    FaultLog,
    can_create,
    disk_full,
    file_identity,
    is_corruption,
    open_read_only,
    storage_sentence,
    translate,
)
from retrieval.store.schema import is_set_up, set_up
from retrieval.types import ArticleInfo, Chunk

log = logging.getLogger(__name__)

# Another process may hold the write lock for a moment (``articlebot ingest``).
BUSY_TIMEOUT_S = 30.0

__all__ = ["BUSY_TIMEOUT_S", "Store", "StoredChunk", "storage_sentence", "title_key"]


class Store:
    """One collection's SQLite database (a ``backend.Store``). Methods are thread-safe (one
    connection, one lock)."""

    def __init__(self, path: Path, *,
                 setup_lock: Callable[[], AbstractContextManager[object]] = nullcontext,
                 name: str | None = None, faults: FaultLog | None = None,
                 guard: Callable[[], None] = lambda: None):
        """``setup_lock`` excludes every other process (and Store) setting up the same file
        (the collection's writer lock); it is taken only while the database is not set up.
        ``name`` is the collection's, for error sentences; ``faults`` logs each fault once;
        ``guard`` runs before every (re)open and may refuse it (an emptied database)."""
        self.path = path
        self.name = name or path.parent.name
        self.read_only = False
        self.refusal = ""  # why writes are refused, when ``read_only``
        self.faults = faults or FaultLog()
        self._setup_lock = setup_lock
        self._guard = guard
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        self._guard()
        db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False,
                                 isolation_level=None)
            if not is_set_up(db):
                with self._setup_lock():
                    if not is_set_up(db):  # another process may have done it meanwhile
                        set_up(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as exc:
            if db is not None:
                db.close()
            if isinstance(exc, sqlite3.Error) and is_corruption(exc):
                raise self._failed(exc, writing=False) from exc
            full = disk_full(path.parent)
            if can_create(path.parent) and not (full and path.is_file()):
                # The path goes to the log; members only ever see the sentence.
                self.faults.error(path, f"could not open ({exc})")
                raise StorageError(f"Could not open the database of collection {self.name} "
                                   f"({exc}).") from exc
            if not path.is_file():  # a new collection on a read-only volume
                raise StorageError("The data directory is not writable; nothing was stored.") \
                    from exc
            # A read-only volume (or a full disk, where SQLite cannot create its shared-memory
            # file) still serves answers; writes are refused in one sentence.
            db = open_read_only(path, self.name, self.faults)
            self.read_only = True
            self.refusal = ("The disk holding the data directory is full; nothing was stored."
                            if full else "The data directory is not writable; nothing was stored.")
        self._conn, self._identity = db, file_identity(path)
        return db

    def _failed(self, exc: sqlite3.Error, *, writing: bool) -> StorageError:
        """The sentence for ``exc``; a damaged database's connection is closed, so that the
        next use reopens the file (a restored one, say)."""
        error = translate(exc, name=self.name, path=self.path, writing=writing,
                          faults=self.faults)
        if is_corruption(exc):
            self.close()
        return error

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection, reopened on demand after ``close`` (an idle collection closed to
        free its file descriptors still answers a caller that kept it)."""
        with self._lock:
            return self._conn if self._conn is not None else self._connect()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction that also bumps the generation; rolled back on any error."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute(
                        "INSERT INTO meta(key, value) VALUES('generation', '1') ON CONFLICT(key) "
                        "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    # SQLite has already rolled back after some errors (a full disk, say).
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._failed(exc, writing=True) from exc

    @contextmanager
    def _plain_write(self) -> Iterator[sqlite3.Connection]:
        """A write outside the chunk tables (no generation bump); errors become one sentence."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._failed(exc, writing=True) from exc

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """Reads; an SQLite error becomes one sentence naming the collection."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._failed(exc, writing=False) from exc

    # -- meta ---------------------------------------------------------------------------
    def generation(self) -> int:
        """The change counter; asked before every search, so it also notices a database file
        replaced underneath (``articlebot restore``) and reopens it."""
        with self._lock:
            now = file_identity(self.path)
            if self._conn is not None and now is not None and now != self._identity:
                self.close()
        return int(self.get_meta("generation") or 0)

    def get_meta(self, key: str) -> str | None:
        with self._reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._plain_write() as db:
            db.execute(
                "INSERT INTO meta(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- articles -----------------------------------------------------------------------
    _ARTICLE_COLUMNS = (
        "a.id, a.title, (SELECT COUNT(*) FROM chunks c WHERE c.article_id = a.id), "
        "a.added_at, a.source, a.added_by, a.content_hash"
    )

    def _articles(self, where: str = "", params: Sequence[object] = ()) -> list[ArticleInfo]:
        with self._reading() as db:
            rows = db.execute(
                f"SELECT {self._ARTICLE_COLUMNS} FROM articles a {where} ORDER BY a.id", params
            ).fetchall()
        return [ArticleInfo(*row) for row in rows]

    def list_articles(self) -> list[ArticleInfo]:
        return self._articles()

    def article_by_id(self, article_id: int) -> ArticleInfo | None:
        found = self._articles("WHERE a.id = ?", (article_id,))
        return found[0] if found else None

    def article_by_title(self, title: str) -> ArticleInfo | None:
        found = self._articles("WHERE a.title_key = ?", (title_key(title),))
        return found[0] if found else None

    def article_by_ref(self, ref: str) -> ArticleInfo | None:
        """An article by id or title (case-insensitive)."""
        number = parse_ref(ref)
        found = None if number is None else self.article_by_id(number)
        return found or self.article_by_title(ref)

    def article_by_hash(self, content_hash: str) -> ArticleInfo | None:
        found = self._articles("WHERE a.content_hash = ?", (content_hash,))
        return found[0] if found else None

    def article_text(self, article_id: int) -> str:
        with self._reading() as db:
            row = db.execute("SELECT text FROM articles WHERE id = ?", (article_id,))
            found = row.fetchone()
        return "" if found is None else str(found[0])

    def put_article(
        self,
        *,
        title: str,
        source: str,
        content_hash: str,
        text: str,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        added_by: str | None,
        added_at: str | None = None,
    ) -> tuple[ArticleInfo, list[int], list[int]]:
        """Insert an article, replacing one with the same title, in one transaction
        (``added_at``: now, unless copied from elsewhere).

        Returns the new article, the ids of its chunks, and the ids of the chunks removed.
        """
        key = title_key(title)
        with self._write() as db:
            old = db.execute("SELECT id FROM articles WHERE title_key = ?", (key,)).fetchone()
            removed: list[int] = []
            if old is not None:
                removed = [r[0] for r in db.execute(
                    "SELECT id FROM chunks WHERE article_id = ?", (old[0],))]
                db.execute("DELETE FROM articles WHERE id = ?", (old[0],))
            cursor = db.execute(
                "INSERT INTO articles(title, title_key, source, content_hash, text, added_at, "
                "added_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, key, source, content_hash, text, added_at or now_text(), added_by),
            )
            article_id = int(cursor.lastrowid or 0)
            ids: list[int] = []
            for chunk, vector in zip(chunks, vectors, strict=True):
                cursor = db.execute(
                    "INSERT INTO chunks(article_id, seq, paragraph, start, end, text, vector) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (article_id, chunk.seq, chunk.paragraph, chunk.start, chunk.end, chunk.text,
                     np.asarray(vector, dtype=np.float32).tobytes()),
                )
                ids.append(int(cursor.lastrowid or 0))
        info = self.article_by_id(article_id)
        assert info is not None
        return info, ids, removed

    def delete_article(self, article_id: int) -> list[int]:
        """Delete an article; returns the ids of its chunks."""
        with self._write() as db:
            removed = [r[0] for r in db.execute(
                "SELECT id FROM chunks WHERE article_id = ?", (article_id,))]
            db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        return removed

    # -- chunks -------------------------------------------------------------------------
    def chunks_by_ids(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._reading() as db:
            rows = db.execute(
                "SELECT c.id, c.article_id, a.title, c.seq, c.paragraph, c.start, c.end, c.text "
                f"FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})",
                [int(i) for i in ids],
            ).fetchall()
        return {row[0]: StoredChunk(*row) for row in rows}

    def chunks_of_article(self, article_id: int) -> list[StoredChunk]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT c.id, c.article_id, a.title, c.seq, c.paragraph, c.start, c.end, c.text "
                "FROM chunks c JOIN articles a ON a.id = c.article_id "
                "WHERE c.article_id = ? ORDER BY c.seq",
                (article_id,),
            ).fetchall()
        return [StoredChunk(*row) for row in rows]

    def chunk_ids_of_article(self, article_id: int) -> list[int]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT id FROM chunks WHERE article_id = ? ORDER BY seq", (article_id,))
            return [int(r[0]) for r in rows]

    def all_chunks(self) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        """Every chunk: ids (int64), vectors (float32), texts and titles, in id order."""
        ids, rows = self._chunk_rows("c.vector, c.text, a.title")
        if rows:
            vectors = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        else:
            vectors = np.zeros((0, 0), dtype=np.float32)
        return ids, vectors, [r[2] for r in rows], [r[3] for r in rows]

    def chunk_ids(self) -> np.ndarray:
        """Every chunk id (int64), sorted."""
        with self._reading() as db:
            rows = db.execute("SELECT id FROM chunks ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def chunk_texts(self) -> tuple[np.ndarray, list[str]]:
        """Every chunk id and its BM25 text (title, newline, text), in id order, read in one
        statement (a consistent snapshot even while another process writes)."""
        ids, rows = self._chunk_rows("a.title || char(10) || c.text")
        return ids, [r[1] for r in rows]

    def _chunk_rows(self, columns: str) -> tuple[np.ndarray, list[Any]]:
        """Every chunk's id (int64) and ``columns`` of it and its article, in id order, in
        one statement."""
        with self._reading() as db:
            rows = db.execute(
                f"SELECT c.id, {columns} FROM chunks c "
                "JOIN articles a ON a.id = c.article_id ORDER BY c.id"
            ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)), rows

    def chunk_count(self) -> int:
        with self._reading() as db:
            return int(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    # -- summaries ----------------------------------------------------------------------
    def cached_summary(self, content_hash: str, length: str, model: str) -> str | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT text FROM summaries WHERE content_hash = ? AND length = ? AND model = ?",
                (content_hash, length, model),
            ).fetchone()
        return None if row is None else str(row[0])

    def save_summary(self, content_hash: str, length: str, model: str, text: str) -> None:
        with self._plain_write() as db:
            db.execute(
                "INSERT OR REPLACE INTO summaries(content_hash, length, model, text) "
                "VALUES (?, ?, ?, ?)",
                (content_hash, length, model, text),
            )
