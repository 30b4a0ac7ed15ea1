"""Follow-up memory: the turns of each conversation, in the store (survives restarts: the
data directory's SQLite file, or the PostgreSQL database every host shares; see
``Engine.conversation_turns``) with a small in-process cache in front.

A conversation is found by a key: the id of one of the bot's answer messages (reply chains,
including replies to /ask responses) or the id of a thread the bot started or a DM channel.
Keeping the exact ``Turn``s costs no REST round trip and no re-parsing of the bot's own
messages. Bounded: at most ``max_turns`` turns per key, ``max_keys_per_guild`` keys per
server in the database (the oldest are forgotten), ``max_keys`` in the cache. Several shard
processes may share the store (a server's conversations are written by the one process
that serves it).

The store is not cheap enough for the event loop: on PostgreSQL every read and write is a
network round trip, and during a failover one can wait up to the pool's timeout. The bot
therefore uses ``recall`` and ``record``: the cache answers on the loop, the store is read
and written in a worker thread. ``get`` and ``remember`` are the blocking forms.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from retrieval.errors import StorageError
from retrieval.types import Turn

if TYPE_CHECKING:
    from retrieval.engine import TurnStore

log = logging.getLogger(__name__)


class ConversationMemory:
    def __init__(self, max_keys: int = 20_000, max_turns: int = 10, *,
                 store: TurnStore | None = None, max_keys_per_guild: int = 2_000) -> None:
        """Without a ``store`` (one that could not be opened, say) follow-ups still work,
        until the next restart."""
        self.max_keys = max_keys
        self.max_turns = max_turns
        self.max_keys_per_guild = max_keys_per_guild
        self._turns: OrderedDict[int, tuple[Turn, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._store = store

    def get(self, key: int | None) -> tuple[Turn, ...]:
        """The turns under ``key``, from the cache or else the store (blocking)."""
        if key is None:
            return ()
        hit = self.cached(key)
        if hit is not None:
            return hit
        found = self._load(key)  # outside the lock: a slow store must not stall cache hits
        if found:
            with self._lock:
                # A turn remembered meanwhile is newer than what the store had.
                if key not in self._turns:
                    self._cache(key, found)
                return self._turns.get(key, found)
        return found

    def cached(self, key: int | None) -> tuple[Turn, ...] | None:
        """The turns under ``key`` if the cache has them (``None`` if it does not); no I/O."""
        if key is None:
            return ()
        with self._lock:
            if key in self._turns:
                self._turns.move_to_end(key)
                return self._turns[key]
        return None

    async def recall(self, key: int | None) -> tuple[Turn, ...]:
        """``get`` for the event loop: a cache miss reads the store in a worker thread."""
        hit = self.cached(key)
        return hit if hit is not None else await asyncio.to_thread(self.get, key)

    def _load(self, key: int) -> tuple[Turn, ...]:
        if self._store is None:
            return ()
        try:
            found = self._store.load(key)
        except StorageError as exc:
            log.warning("could not read follow-up memory: %s", exc)
            return ()
        if found is None:
            return ()
        return tuple(Turn(q, a) for q, a in json.loads(found))[-self.max_turns:]

    def remember(self, keys: Iterable[int], history: Sequence[Turn], turn: Turn, *,
                 guild: int | None = None) -> None:
        """Store ``history + turn`` under every key (answer message ids, thread id);
        blocking."""
        keys = list(keys)
        self._save(keys, self._keep(keys, history, turn), _guild(guild))

    async def record(self, keys: Iterable[int], history: Sequence[Turn], turn: Turn, *,
                     guild: int | None = None) -> None:
        """``remember`` for the event loop: the cache at once (a follow-up may come before
        the write ends), the store in a worker thread."""
        keys = list(keys)
        turns = self._keep(keys, history, turn)
        await asyncio.to_thread(self._save, keys, turns, _guild(guild))

    def _keep(self, keys: list[int], history: Sequence[Turn], turn: Turn) -> tuple[Turn, ...]:
        turns = (*history, turn)[-self.max_turns:]
        with self._lock:
            for key in keys:
                self._cache(key, turns)
        return turns

    def _cache(self, key: int, turns: tuple[Turn, ...]) -> None:
        self._turns[key] = turns
        self._turns.move_to_end(key)
        while len(self._turns) > self.max_keys:
            self._turns.popitem(last=False)

    def _save(self, keys: list[int], turns: tuple[Turn, ...], guild: str) -> None:
        if self._store is None or not keys:
            return
        data = json.dumps([[t.question, t.answer] for t in turns], ensure_ascii=False)
        try:
            self._store.save(keys, guild, time.time(), data, self.max_keys_per_guild)
        except StorageError as exc:
            log.warning("could not save follow-up memory: %s", exc)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def __len__(self) -> int:
        return len(self._turns)


def _guild(guild: int | None) -> str:
    return "dm" if guild is None else str(guild)
