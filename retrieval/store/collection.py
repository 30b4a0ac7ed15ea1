"""One collection: its store (SQLite or PostgreSQL, see ``backend``) plus its FAISS and BM25
indexes in a local directory, kept in step. "SQLite" below stands for either store.

Writes go to SQLite first (one transaction per article), then to the in-memory indexes, then
the indexes are saved. A crash between those steps leaves SQLite ahead of the index files;
the check on the next load (generation and the exact set of chunk ids) notices and rebuilds
from SQLite.

Concurrency. Searches never see an index while it changes: the indexes of a collection are
an immutable ``IndexView``; a writer changes a private copy and then swaps in a new view, so
a search that already holds the old view finishes on it. Writers, in this process and in
others sharing the data directory (``articlebot ingest`` while ``articlebot run`` serves,
several shard processes), take the collection's file lock (with PostgreSQL an advisory
lock, across hosts); before changing anything they catch up with SQLite, and readers reload
when SQLite's generation moved without them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import InputError, StorageError
from retrieval.store import filelock
from retrieval.store.backend import Backend
from retrieval.store.faults import DamagedDatabase, FaultLog, emptied_sentence, storage_sentence
from retrieval.store.indexes import (
    DenseIndex,
    SparseIndex,
    indexed_chunks,
    load_indexes,
    save_indexes,
)
from retrieval.store.sqlite import Store
from retrieval.store.turns import SqliteTurns
from retrieval.store.voter_key import load_or_create_key
from retrieval.types import ArticleInfo

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

# A collection directory (``DataDir.collection``): the store, the writers' lock, the indexes.
STORE_FILE = "store.sqlite3"
LOCK_FILE = "write.lock"
INDEX_DIR = "index"


def check_collection_name(name: str) -> str:
    if not _NAME.match(name):
        raise InputError(
            f"Collection name {name!r} is invalid: use 1-64 lower-case letters, digits, - or _."
        )
    return name


def refuse_emptied(directory: Path, name: str, faults: FaultLog) -> None:
    """A database that is missing or empty while the collection's index says it held
    passages is refused (``DamagedDatabase``): re-creating it would silently empty the
    collection, and the next index save would delete the last evidence of what it held."""
    path = directory / STORE_FILE
    if path.is_file() and path.stat().st_size > 0:
        return
    held = indexed_chunks(directory / INDEX_DIR)
    if held is None:
        return
    faults.error(path, f"missing or empty, but its index held {held} passages; restore a "
                       f"backup with `articlebot restore {name}`")
    raise DamagedDatabase(emptied_sentence(name, held))


class SqliteFiles:
    """The embedded backend: per collection directory an SQLite database and a lock file."""

    name = "sqlite"

    def open(self, directory: Path, name: str, *, lock_timeout_s: float,
             faults: Any) -> Store:
        """Opens the database, refusing one that was emptied (``refuse_emptied``); a new
        database is set up by one process at a time (see ``retrieval.store.sqlite``)."""
        return Store(directory / STORE_FILE, name=name, faults=faults,
                     setup_lock=lambda: filelock.exclusive(directory / LOCK_FILE,
                                                           lock_timeout_s),
                     guard=lambda: refuse_emptied(directory, name, faults))

    def exclusive(self, directory: Path, name: str,
                  timeout_s: float) -> contextlib.AbstractContextManager[bool]:
        return filelock.exclusive(directory / LOCK_FILE, timeout_s)

    def exists(self, directory: Path, name: str) -> bool:
        """One whose index remains but whose database is gone exists (and is refused when
        opened: no silent empties)."""
        return (directory / STORE_FILE).is_file() or \
            indexed_chunks(directory / INDEX_DIR) is not None

    def drop(self, directory: Path, name: str, timeout_s: float) -> None:
        shutil.rmtree(directory, ignore_errors=True)

    def turns(self, path: Path) -> SqliteTurns:
        return SqliteTurns(path)

    def member_key(self, path: Path) -> bytes:
        return load_or_create_key(path)

    def check_writable(self, store: Any, directory: Path) -> None:
        if store.read_only:
            raise StorageError(store.refusal)
        # Unique per process and thread: two writers must not remove each other's probe.
        probe = directory / f".write-probe-{os.getpid()}-{threading.get_ident()}"
        try:
            probe.write_bytes(b"ok")
        except OSError as exc:
            raise StorageError(storage_sentence(exc)) from exc
        finally:
            # A write that failed half-way (a full disk) has still created the file.
            with contextlib.suppress(OSError):
                probe.unlink(missing_ok=True)


@dataclass(frozen=True)
class IndexView:
    """Both indexes as of one SQLite generation. Never changed after it is published."""

    generation: int
    dense: DenseIndex
    sparse: SparseIndex


class Collection:
    def __init__(self, directory: Path, name: str, dimension: int, *,
                 lock_timeout_s: float = 30.0, faults: FaultLog | None = None,
                 backend: Backend | None = None):
        """Opens the store (``backend``, SQLite files by default) and the indexes; a damaged
        database raises ``DamagedDatabase``."""
        self.name = check_collection_name(name)
        self.directory = directory
        self.dimension = dimension
        self.lock_timeout_s = lock_timeout_s
        self.backend: Backend = backend or SqliteFiles()
        self.store = self.backend.open(directory, self.name, lock_timeout_s=lock_timeout_s,
                                       faults=faults or FaultLog())
        self.last_used = time.monotonic()
        self._lock = threading.RLock()  # guards the fields below; never held while searching
        self._write_mutex = threading.RLock()  # one writer (or batch) in this process
        self._file_locked = 0
        self._writers = 0
        self._batch_depth = 0
        self._view: IndexView | None = None
        self._work: DenseIndex | None = None  # a writer's copy, not yet published
        self._work_generation = -1  # the SQLite generation the newest local state reflects
        self._sparse_dirty = False
        try:
            with self._write_mutex, self._lock:
                self._reload()
        except BaseException:
            self.store.close()
            raise

    # -- the file lock ------------------------------------------------------------------
    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This collection's writer lock across processes; re-entrant within one writer."""
        if self._file_locked:
            self._file_locked += 1
            try:
                yield
            finally:
                self._file_locked -= 1
            return
        with self.backend.exclusive(self.directory, self.name, self.lock_timeout_s):
            self._file_locked = 1
            try:
                yield
            finally:
                self._file_locked = 0

    # -- loading ------------------------------------------------------------------------
    def _reload(self) -> None:
        """Install indexes matching SQLite now: the saved files if they hold exactly SQLite's
        chunks, otherwise a rebuild (saved too). Called with the writer mutex and
        ``self._lock`` held."""
        try:
            with self._write_mutex, self._exclusive():
                self._install(self._open_indexes())
        except filelock.LockTimeout:
            # A long write elsewhere: serve a consistent rebuild, leave the files to the writer.
            log.warning("collection %s: writer lock busy; rebuilding indexes in memory",
                        self.name)
            self._install(self._build())

    def _open_indexes(self) -> IndexView:
        generation, ids = self.store.generation(), self.store.chunk_ids()
        loaded = load_indexes(self.directory / INDEX_DIR, generation, ids)
        if isinstance(loaded, tuple):
            return IndexView(generation, *loaded)
        if len(ids) or generation:
            # INFO: the rebuild repairs it; the terminal shows answers and errors only.
            log.info("collection %s: rebuilding indexes from SQLite: %s", self.name, loaded)
        view = self._build()
        self._save(view)
        return view

    def _build(self) -> IndexView:
        # The generation is read first: if a write lands in between, the view looks older
        # than it is and is merely reloaded once more.
        generation = self.store.generation()
        ids, vectors, texts, titles = self.store.all_chunks()
        dense = DenseIndex(vectors.shape[1] if len(ids) else self.dimension)
        dense.add(ids, vectors)
        sparse = SparseIndex.build(ids, [f"{t}\n{x}" for t, x in zip(titles, texts)])
        return IndexView(generation, dense, sparse)

    def _install(self, view: IndexView) -> None:
        self._view = view
        self._work = None
        self._work_generation = view.generation
        self._sparse_dirty = False

    def rebuild(self) -> IndexView:
        with self._write_mutex, self._lock, self._exclusive():
            view = self._build()
            self._install(view)
            self._save(view)
            return view

    def _save(self, view: IndexView) -> None:
        try:
            save_indexes(self.directory / INDEX_DIR, view.generation, view.dense, view.sparse)
        except OSError as exc:
            # SQLite holds the data; the indexes will be rebuilt on the next start. INFO: on
            # a full disk every command meets it, and the terminal shows answers only.
            log.info("collection %s: indexes kept in memory only (could not save them: %s)",
                     self.name, exc)

    # -- changes ------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer lock (other threads and processes wait, up to the configured
        time) with the indexes caught up with SQLite. Wrap every change to the store."""
        self.last_used = time.monotonic()
        with self._write_mutex:
            with self._lock:
                self._writers += 1
            try:
                with self._exclusive():
                    with self._lock:
                        self._catch_up()
                    yield
            finally:
                with self._lock:
                    self._writers -= 1

    def _catch_up(self) -> None:
        if self._view is None or self.store.generation() != self._work_generation:
            if self._view is not None:
                log.info("collection %s: changed by another process; reloading indexes",
                         self.name)
            self._install(self._open_indexes())

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes: BM25 is rebuilt and the indexes saved once, at the end.
        Searches meanwhile see the collection as it was before the batch."""
        with self._write_mutex:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0 and self._sparse_dirty:
                    with self._exclusive(), self._lock:
                        self._catch_up()
                        if self._sparse_dirty:
                            self._publish()

    def apply(self, added_ids: list[int], vectors: np.ndarray, removed_ids: list[int]) -> None:
        """Bring the indexes in line with a committed SQLite change (inside ``writing``)."""
        with self._lock:
            if self._work is None:
                assert self._view is not None
                self._work = self._view.dense.copy()
            self._work.remove(removed_ids)
            self._work.add(added_ids, vectors)
            self._work_generation = self.store.generation()
            self._sparse_dirty = True
            if self._batch_depth == 0:
                self._publish()

    def _publish(self) -> None:
        """Swap in a view of the written state; called with both locks held."""
        assert self._view is not None
        dense = self._work if self._work is not None else self._view.dense
        ids, texts = self.store.chunk_texts()
        view = IndexView(self._work_generation, dense, SparseIndex.build(ids, texts))
        self._install(view)
        self._save(view)

    def remove_article(self, find: Callable[[], ArticleInfo]) -> ArticleInfo:
        """Remove the article ``find`` names, looked up under the write lock: another
        process may have removed it meanwhile."""
        self.check_writable()
        with self.writing():
            info = find()
            removed = self.store.delete_article(info.id)
            self.apply([], np.zeros((0, self.dimension), np.float32), removed)
        return info

    def check_writable(self) -> None:
        self.backend.check_writable(self.store, self.directory)

    # -- reading ------------------------------------------------------------------------
    def view(self) -> IndexView:
        """The current indexes, reloaded first if another process changed SQLite."""
        self.last_used = time.monotonic()
        view = self._view
        if view is not None and (self.busy or self.store.generation() == self._work_generation):
            return view
        # Lock order everywhere: the writer mutex, then the file lock and ``self._lock``.
        if not self._write_mutex.acquire(blocking=view is None):
            return view  # type: ignore[return-value]  # a local writer catches up for us
        try:
            with self._lock:
                if self._view is None or (not self.busy and self.store.generation()
                                          != self._work_generation):
                    self._reload()
                assert self._view is not None
                return self._view
        finally:
            self._write_mutex.release()

    @property
    def dense(self) -> DenseIndex:
        return self.view().dense

    @property
    def sparse(self) -> SparseIndex:
        return self.view().sparse

    @property
    def busy(self) -> bool:
        """A write or batch is under way in this process."""
        return bool(self._writers or self._batch_depth)

    def close(self) -> None:
        """Release the database and the indexes; a later use reopens them."""
        with self._write_mutex, self._lock:
            self._view = None
            self._work = None
            self._work_generation = -1
            self.store.close()
