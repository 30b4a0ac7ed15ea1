"""The collections an Engine has open: opened (and created) on first use, the least recently
used closed beyond ``storage.max_open_collections``; in the backend ``storage.backend``
chooses (SQLite files, or PostgreSQL connected on first use)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from config import Settings
from retrieval.store.backend import Backend
from retrieval.store.collection import (
    STORE_FILE,
    Collection,
    SqliteFiles,
    check_collection_name,
)
from retrieval.store.faults import FaultLog, can_create
from retrieval.types import DataDir

log = logging.getLogger(__name__)


class OpenCollections:
    """``on_open`` sees every collection this object opens, before anyone else uses it."""

    def __init__(self, settings: Settings, dimension: Callable[[], int],
                 on_open: Callable[[Collection], None]):
        self.settings = settings
        self._data = DataDir(settings.data_dir)
        self._dimension = dimension
        self._on_open = on_open
        # Least recently used first (see ``_evict_idle``).
        self._collections: OrderedDict[str, Collection] = OrderedDict()
        self._lock = threading.RLock()
        self.faults = FaultLog()  # a damaged collection is logged once, not at every question
        self._backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        """The store backend; PostgreSQL's pool (one per process) opens on first use."""
        with self._lock:
            if self._backend is None:
                if self.settings.storage.backend == "postgres":
                    from retrieval.store.postgres import postgres_backend

                    self._backend = postgres_backend(self.settings.storage.pool_size)
                else:
                    self._backend = SqliteFiles()
            return self._backend

    def __len__(self) -> int:
        return len(self._collections)

    def get(self, name: str | None = None) -> Collection:
        """The named collection, opened (and created on disk) if need be."""
        name = check_collection_name(name or self.settings.default_collection)
        with self._lock:
            found = self._collections.get(name)
            if found is None:
                directory = self._data.collection(name)
                found = Collection(directory, name, self._dimension(), faults=self.faults,
                                   lock_timeout_s=self.settings.storage.lock_timeout_s,
                                   backend=self.backend)
                self.faults.forget(directory / STORE_FILE)
                self._collections[name] = found
                self._on_open(found)
            self._collections.move_to_end(name)
            self._evict_idle()
            return found

    def existing(self, name: str | None) -> Collection | None:
        """The collection if it exists; reading a server's empty knowledge (a member's
        /articles or autocomplete) must not create it. The default collection is created on
        first use, unless the volume is read-only."""
        name = check_collection_name(name or self.settings.default_collection)
        directory = self._data.collection(name)
        with self._lock:
            if name in self._collections or self.backend.exists(directory, name):
                return self.get(name)
            if name == self.settings.default_collection and can_create(directory):
                return self.get(name)
        return None

    def close_one(self, name: str) -> None:
        """Close one collection (before its database is restored underneath it)."""
        with self._lock:
            found = self._collections.pop(name, None)
            if found is not None:
                found.close()

    def drop(self, name: str) -> None:
        """Close and delete a collection (a temporary one of ``articlebot eval``, say)."""
        name = check_collection_name(name)
        with self._lock:
            self.close_one(name)
            self.backend.drop(self._data.collection(name), name,
                              self.settings.storage.lock_timeout_s)

    def close(self) -> None:
        with self._lock:
            for collection in self._collections.values():
                collection.close()
            self._collections.clear()

    def _evict_idle(self) -> None:
        """Close the least recently used collections beyond ``storage.max_open_collections``
        (each holds file descriptors and its indexes in memory). One still in use by a
        caller keeps working: it reopens what it needs."""
        limit = self.settings.storage.max_open_collections
        for name, candidate in list(self._collections.items()):
            if len(self._collections) <= limit:
                return
            if candidate.busy or name == self.settings.default_collection:
                continue
            candidate.close()
            del self._collections[name]
            log.debug("closed idle collection %s", name)
