"""The collections an Engine has open: opened (and created on disk) on first use, the least
recently used closed beyond ``storage.max_open_collections``."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from config import Settings
from retrieval.store.collection import STORE_FILE, Collection, check_collection_name
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

    def __len__(self) -> int:
        return len(self._collections)

    def get(self, name: str | None = None) -> Collection:
        """The named collection, opened (and created on disk) if need be."""
        name = check_collection_name(name or self.settings.default_collection)
        with self._lock:
            found = self._collections.get(name)
            if found is None:
                found = Collection(self._data.collection(name), name, self._dimension(),
                                   lock_timeout_s=self.settings.storage.lock_timeout_s)
                self._collections[name] = found
                self._on_open(found)
            self._collections.move_to_end(name)
            self._evict_idle()
            return found

    def existing(self, name: str | None) -> Collection | None:
        """The collection if it exists; reading a server's empty knowledge (a member's
        /articles or autocomplete) must not create its files."""
        name = check_collection_name(name or self.settings.default_collection)
        directory = self._data.collection(name)
        with self._lock:
            if name in self._collections or name == self.settings.default_collection or \
                    (directory / STORE_FILE).is_file():
                return self.get(name)
        return None

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
