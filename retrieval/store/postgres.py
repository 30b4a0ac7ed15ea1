"""The PostgreSQL + pgvector backend: every collection's articles, chunks, vectors, meta and
summaries in one database that processes on several hosts share (``pgconnect`` holds the
pool and the schema).

Every statement names its collection (``WHERE collection = %s``): one guild's articles are
never read for another, whatever the ids. Ids come from sequences shared by all collections,
are never reused, and so serve as FAISS ids. An article is stored in one transaction that
also bumps its collection's ``generation``: another host compares that one number before a
search and reloads its FAISS and BM25 caches when it moved. Writers hold a session advisory
lock per collection; PostgreSQL releases it when the holder's connection ends, so a crashed
host leaves no stale lock.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.store.backend import Store, StoredChunk, now_text, parse_ref, title_key
from retrieval.store.filelock import BUSY_SENTENCE, LockTimeout
from retrieval.store.pgconnect import LOCK_CLASS, Database, database
from retrieval.store.voter_key import new_key
from retrieval.types import ArticleInfo, Chunk

_ARTICLE = ("SELECT a.id, a.title, (SELECT count(*) FROM articlebot.chunks c WHERE "
            "c.collection = a.collection AND c.article_id = a.id), a.added_at, a.source, "
            "a.added_by, a.content_hash FROM articlebot.articles a WHERE a.collection = %s ")
_CHUNK = ('SELECT c.id, c.article_id, a.title, c.seq, c.paragraph, c.start, c."end", c.text '
          "FROM articlebot.chunks c JOIN articlebot.articles a ON a.id = c.article_id "
          "WHERE c.collection = %s ")
MEMBER_KEY = "member_key"
_BUMP = "UPDATE articlebot.collections SET generation = generation + 1 WHERE name = %s"


class PostgresStore:
    """One collection in the shared database (a ``backend.Store``)."""

    def __init__(self, db: Database, name: str):
        self.db = db
        self.name = name
        self.read_only = False
        self.refusal = ""
        with self._write():  # the collection's row
            pass

    def close(self) -> None:
        """Nothing to release: the connections belong to the process's pool."""

    def _read(self) -> contextlib.AbstractContextManager[Any]:
        return self.db.connection(f"read collection {self.name}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[Any]:
        """A connection for a change, the collection's row made first: another host may
        have dropped the collection since this one opened it."""
        with self.db.connection(f"store into collection {self.name}; nothing was stored"
                                ) as conn:
            conn.execute("INSERT INTO articlebot.collections(name) VALUES (%s) "
                         "ON CONFLICT DO NOTHING", (self.name,))
            yield conn

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._read() as conn:
            return list(conn.execute(sql, (self.name, *params)).fetchall())

    # -- meta ---------------------------------------------------------------------------
    def generation(self) -> int:
        rows = self._rows("SELECT generation FROM articlebot.collections WHERE name = %s")
        return int(rows[0][0]) if rows else 0

    def get_meta(self, key: str) -> str | None:
        rows = self._rows("SELECT value FROM articlebot.meta WHERE collection = %s AND key = %s",
                          (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO articlebot.meta(collection, key, value) VALUES (%s, %s, %s) "
                         "ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value",
                         (self.name, key, value))

    # -- articles -----------------------------------------------------------------------
    def _articles(self, where: str = "", params: Sequence[object] = ()) -> list[ArticleInfo]:
        return [ArticleInfo(*row) for row in self._rows(f"{_ARTICLE}{where} ORDER BY a.id",
                                                        params)]

    def list_articles(self) -> list[ArticleInfo]:
        return self._articles()

    def article_by_id(self, article_id: int) -> ArticleInfo | None:
        found = self._articles("AND a.id = %s", (article_id,))
        return found[0] if found else None

    def article_by_title(self, title: str) -> ArticleInfo | None:
        found = self._articles("AND a.title_key = %s", (title_key(title),))
        return found[0] if found else None

    def article_by_ref(self, ref: str) -> ArticleInfo | None:
        number = parse_ref(ref)
        found = None if number is None else self.article_by_id(number)
        return found or self.article_by_title(ref)

    def article_by_hash(self, content_hash: str) -> ArticleInfo | None:
        found = self._articles("AND a.content_hash = %s", (content_hash,))
        return found[0] if found else None

    def article_text(self, article_id: int) -> str:
        rows = self._rows("SELECT text FROM articlebot.articles WHERE collection = %s AND id = %s",
                          (article_id,))
        return str(rows[0][0]) if rows else ""

    def put_article(self, *, title: str, source: str, content_hash: str, text: str,
                    chunks: Sequence[Chunk], vectors: np.ndarray, added_by: str | None,
                    added_at: str | None = None) -> tuple[ArticleInfo, list[int], list[int]]:
        """Insert an article, replacing one with the same title, in one transaction
        (``added_at``: now, unless copied from elsewhere).

        Returns the new article, the ids of its chunks, and the ids of the chunks removed.
        """
        key = title_key(title)
        with self._write() as conn, conn.transaction():
            old = conn.execute("SELECT id FROM articlebot.articles WHERE collection = %s AND "
                               "title_key = %s", (self.name, key)).fetchone()
            removed = [] if old is None else self._delete(conn, int(old[0]))
            article_id = int(conn.execute(
                "INSERT INTO articlebot.articles(collection, title, title_key, source, "
                "content_hash, text, added_at, added_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id",
                (self.name, title, key, source, content_hash, text, added_at or now_text(),
                 added_by),
            ).fetchone()[0])
            ids = self._insert_chunks(conn, article_id, chunks, vectors)
            conn.execute(_BUMP, (self.name,))
        info = self.article_by_id(article_id)
        assert info is not None
        return info, ids, removed

    def _insert_chunks(self, conn: Any, article_id: int, chunks: Sequence[Chunk],
                       vectors: np.ndarray) -> list[int]:
        """The chunks' rows (vectors sent in binary); returns their ids, in order."""
        rows = [(self.name, article_id, c.seq, c.paragraph, c.start, c.end, c.text,
                 np.asarray(v, dtype=np.float32)) for c, v in zip(chunks, vectors, strict=True)]
        ids: list[int] = []
        if not rows:
            return ids
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO articlebot.chunks(collection, article_id, seq, paragraph, start, "
                '"end", text, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %b) RETURNING id',
                rows, returning=True)
            while True:
                ids.extend(int(r[0]) for r in cursor.fetchall())
                if not cursor.nextset():
                    return ids

    def _delete(self, conn: Any, article_id: int) -> list[int]:
        removed = [int(r[0]) for r in conn.execute(
            "SELECT id FROM articlebot.chunks WHERE collection = %s AND article_id = %s",
            (self.name, article_id))]
        conn.execute("DELETE FROM articlebot.articles WHERE collection = %s AND id = %s",
                     (self.name, article_id))
        return removed

    def delete_article(self, article_id: int) -> list[int]:
        """Delete an article; returns the ids of its chunks."""
        with self._write() as conn, conn.transaction():
            removed = self._delete(conn, article_id)
            conn.execute(_BUMP, (self.name,))
        return removed

    # -- chunks -------------------------------------------------------------------------
    def chunks_by_ids(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not len(ids):
            return {}
        rows = self._rows(f"{_CHUNK}AND c.id = ANY(%s)", ([int(i) for i in ids],))
        return {row[0]: StoredChunk(*row) for row in rows}

    def chunks_of_article(self, article_id: int) -> list[StoredChunk]:
        rows = self._rows(f"{_CHUNK}AND c.article_id = %s ORDER BY c.seq", (article_id,))
        return [StoredChunk(*row) for row in rows]

    def chunk_ids_of_article(self, article_id: int) -> list[int]:
        rows = self._rows("SELECT id FROM articlebot.chunks WHERE collection = %s AND "
                          "article_id = %s ORDER BY seq", (article_id,))
        return [int(r[0]) for r in rows]

    def all_chunks(self) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        """Every chunk: ids (int64), vectors (float32), texts and titles, in id order."""
        with self._read() as conn, conn.cursor(binary=True) as cursor:
            rows = cursor.execute(
                "SELECT c.id, c.embedding, c.text, a.title FROM articlebot.chunks c JOIN "
                "articlebot.articles a ON a.id = c.article_id WHERE c.collection = %s "
                "ORDER BY c.id", (self.name,)).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if rows:
            vectors = np.vstack([r[1].to_numpy() for r in rows]).astype(np.float32)
        else:
            vectors = np.zeros((0, 0), dtype=np.float32)
        return ids, vectors, [r[2] for r in rows], [r[3] for r in rows]

    def chunk_ids(self) -> np.ndarray:
        """Every chunk id (int64), sorted."""
        rows = self._rows("SELECT id FROM articlebot.chunks WHERE collection = %s ORDER BY id")
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def chunk_texts(self) -> tuple[np.ndarray, list[str]]:
        """Every chunk id and its BM25 text (title, newline, text), in id order, in one
        statement."""
        rows = self._rows("SELECT c.id, a.title || E'\\n' || c.text FROM articlebot.chunks c "
                          "JOIN articlebot.articles a ON a.id = c.article_id "
                          "WHERE c.collection = %s ORDER BY c.id")
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, [r[1] for r in rows]

    def chunk_count(self) -> int:
        return int(self._rows("SELECT count(*) FROM articlebot.chunks "
                              "WHERE collection = %s")[0][0])

    # -- summaries ----------------------------------------------------------------------
    def cached_summary(self, content_hash: str, length: str, model: str) -> str | None:
        rows = self._rows("SELECT text FROM articlebot.summaries WHERE collection = %s AND "
                          "content_hash = %s AND length = %s AND model = %s",
                          (content_hash, length, model))
        return str(rows[0][0]) if rows else None

    def save_summary(self, content_hash: str, length: str, model: str, text: str) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO articlebot.summaries(collection, content_hash, length, "
                         "model, text) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (collection, "
                         "content_hash, length, model) DO UPDATE SET text = excluded.text",
                         (self.name, content_hash, length, model, text))


class PostgresTurns:
    """The follow-up memory in the shared database (a ``turns.TurnStore``)."""

    def __init__(self, db: Database):
        self.db = db

    def load(self, key: int) -> str | None:
        with self.db.connection("read the follow-up memory") as conn:
            row = conn.execute("SELECT turns FROM articlebot.turns WHERE key = %s",
                               (key,)).fetchone()
        return None if row is None else str(row[0])

    def save(self, keys: Sequence[int], guild: str, updated: float, turns: str,
             keep: int) -> None:
        if not keys:
            return
        with self.db.connection("save the follow-up memory") as conn, conn.transaction():
            conn.cursor().executemany(
                "INSERT INTO articlebot.turns(key, guild, updated, turns) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET guild = excluded.guild, "
                "updated = excluded.updated, turns = excluded.turns",
                [(key, guild, updated, turns) for key in keys])
            conn.execute(
                "DELETE FROM articlebot.turns WHERE guild = %s AND key NOT IN (SELECT key FROM "
                "articlebot.turns WHERE guild = %s ORDER BY updated DESC, key DESC LIMIT %s)",
                (guild, guild, keep))

    def insert_missing(self, rows: Sequence[tuple[int, str, float, str]]) -> int:
        """Rows of (key, guild, updated, turns) not already stored (``migrate``); returns how
        many were new."""
        with self.db.connection("save the follow-up memory") as conn, conn.transaction():
            before = int(conn.execute("SELECT count(*) FROM articlebot.turns").fetchone()[0])
            conn.cursor().executemany(
                "INSERT INTO articlebot.turns(key, guild, updated, turns) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (key) DO NOTHING", list(rows))
            return int(conn.execute("SELECT count(*) FROM articlebot.turns").fetchone()[0]) \
                - before

    def count_keys(self, keys: Sequence[int]) -> int:
        with self.db.connection("read the follow-up memory") as conn:
            return int(conn.execute("SELECT count(*) FROM articlebot.turns WHERE key = ANY(%s)",
                                    (list(keys),)).fetchone()[0])

    def close(self) -> None:
        """Nothing to release: the connections belong to the process's pool."""


class PostgresBackend:
    """Collections in one PostgreSQL database (see the module's docstring)."""

    name = "postgres"

    def __init__(self, db: Database):
        self.db = db

    def open(self, directory: Path, name: str, *, lock_timeout_s: float,
             faults: object) -> Store:
        return PostgresStore(self.db, name)

    @contextlib.contextmanager
    def exclusive(self, directory: Path, name: str, timeout_s: float,
                  poll_s: float = 0.05) -> Iterator[bool]:
        """The collection's advisory lock, held on a connection of its own."""
        if not self.db.lock_slots.acquire(timeout=timeout_s):
            raise LockTimeout(BUSY_SENTENCE)
        try:
            with self.db.connection(f"lock collection {name}") as conn:
                deadline = time.monotonic() + timeout_s
                while not conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                       (LOCK_CLASS, name)).fetchone()[0]:
                    if time.monotonic() >= deadline:
                        raise LockTimeout(BUSY_SENTENCE)
                    time.sleep(poll_s)
                try:
                    yield True
                finally:
                    try:
                        conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                                     (LOCK_CLASS, name))
                    except Exception:
                        conn.close()  # the pool drops it, and the server the lock
                        raise
        finally:
            self.db.lock_slots.release()

    def turns(self, path: Path) -> PostgresTurns:
        return PostgresTurns(self.db)

    def member_key(self, path: Path, initial: bytes | None = None) -> bytes:
        """The database's one key (``path`` is not used): the first host to ask stores
        ``initial`` (a new random key unless ``migrate`` brings the data directory's), and
        every later insert does nothing, so hosts starting together agree on it."""
        with self.db.connection("read the question log's voter key") as conn:
            # Two statements: the second's snapshot sees a key another host committed while
            # the first waited on it.
            conn.execute("INSERT INTO articlebot.secrets(name, value) VALUES (%s, %s) "
                         "ON CONFLICT (name) DO NOTHING",
                         (MEMBER_KEY, (initial or new_key()).hex()))
            row = conn.execute("SELECT value FROM articlebot.secrets WHERE name = %s",
                               (MEMBER_KEY,)).fetchone()
        return bytes.fromhex(str(row[0]))

    def drop(self, directory: Path, name: str, timeout_s: float) -> None:
        """Its rows (articles, chunks, meta and summaries go with the collection's row),
        under its writers' lock, then this host's caches."""
        with self.exclusive(directory, name, timeout_s), \
                self.db.connection(f"delete collection {name}") as conn, conn.transaction():
            conn.execute("DELETE FROM articlebot.chunks WHERE collection = %s", (name,))
            conn.execute("DELETE FROM articlebot.collections WHERE name = %s", (name,))
        shutil.rmtree(directory, ignore_errors=True)

    def exists(self, directory: Path, name: str) -> bool:
        with self.db.connection(f"read collection {name}") as conn:
            return conn.execute("SELECT 1 FROM articlebot.collections WHERE name = %s",
                                (name,)).fetchone() is not None

    def check_writable(self, store: Store, directory: Path) -> None:
        """The database refuses a write in its own sentence; the local directory holds only
        caches, whose saving may fail without losing anything."""


def postgres_backend(pool_size: int) -> PostgresBackend:
    return PostgresBackend(database(pool_size))
