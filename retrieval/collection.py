"""One collection on disk: the SQLite store plus its FAISS and BM25 indexes, kept in step.

Writes go to SQLite first (one transaction per article), then to the in-memory indexes, then
the indexes are saved. A crash between those steps leaves SQLite ahead of the index files;
the generation check on the next load notices and rebuilds from SQLite.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from retrieval.errors import InputError, StorageError
from retrieval.indexes import DenseIndex, SparseIndex, load_indexes, save_indexes
from retrieval.store import Store, storage_sentence

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def check_collection_name(name: str) -> str:
    if not _NAME.match(name):
        raise InputError(
            f"Collection name {name!r} is invalid: use 1-64 lower-case letters, digits, - or _."
        )
    return name


class Collection:
    def __init__(self, directory: Path, name: str, dimension: int):
        self.name = check_collection_name(name)
        self.directory = directory
        self.dimension = dimension
        self.store = Store(directory / "store.sqlite3")
        self._lock = threading.RLock()
        self._batch_depth = 0
        self._sparse_dirty = False
        self._dense, self._sparse = self._open_indexes()

    # -- loading ------------------------------------------------------------------------
    def _open_indexes(self) -> tuple[DenseIndex, SparseIndex]:
        generation, count = self.store.generation(), self.store.chunk_count()
        loaded = load_indexes(self.directory / "index", generation, count)
        if isinstance(loaded, tuple):
            return loaded
        if count or generation:
            log.warning("collection %s: rebuilding indexes from SQLite: %s", self.name, loaded)
        return self.rebuild()

    def rebuild(self) -> tuple[DenseIndex, SparseIndex]:
        with self._lock:
            ids, vectors, texts, titles = self.store.all_chunks()
            dense = DenseIndex(vectors.shape[1] if len(ids) else self.dimension)
            dense.add(ids, vectors)
            sparse = SparseIndex.build(ids, [f"{t}\n{x}" for t, x in zip(titles, texts)])
            self._dense, self._sparse = dense, sparse
            self._sparse_dirty = False
            self._save()
            return dense, sparse

    def _save(self) -> None:
        try:
            save_indexes(self.directory / "index", self.store.generation(), self._dense,
                         self._sparse)
        except OSError as exc:
            # SQLite holds the data; the indexes will be rebuilt on the next start.
            log.error("collection %s: could not save indexes: %s", self.name, exc)

    # -- changes ------------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes: BM25 is rebuilt and the indexes saved once, at the end."""
        with self._lock:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self._flush()

    def _flush(self) -> None:
        if self._sparse_dirty:
            ids, _, texts, titles = self.store.all_chunks()
            self._sparse = SparseIndex.build(ids, [f"{t}\n{x}" for t, x in zip(titles, texts)])
            self._sparse_dirty = False
        self._save()

    def apply(self, added_ids: list[int], vectors: np.ndarray, removed_ids: list[int]) -> None:
        """Bring the in-memory indexes in line with a committed SQLite change."""
        with self._lock:
            self._dense.remove(removed_ids)
            self._dense.add(added_ids, vectors)
            self._sparse_dirty = True
            if self._batch_depth == 0:
                self._flush()

    def check_writable(self) -> None:
        if self.store.read_only:
            raise StorageError("The data directory is not writable; nothing was stored.")
        probe = self.directory / ".write-probe"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(storage_sentence(exc)) from exc

    # -- reading ------------------------------------------------------------------------
    @property
    def dense(self) -> DenseIndex:
        return self._dense

    @property
    def sparse(self) -> SparseIndex:
        with self._lock:
            if self._sparse_dirty and self._batch_depth == 0:
                self._flush()
            return self._sparse

    def close(self) -> None:
        with self._lock:
            if self._sparse_dirty:
                self._flush()
            self.store.close()
