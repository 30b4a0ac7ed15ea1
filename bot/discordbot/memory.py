"""Follow-up memory: the turns of each conversation, in the store (survives restarts: the
data directory's SQLite file, or the PostgreSQL database every host shares; see
``Engine.conversation_turns``) with a small in-process cache in front.

A conversation is found by a key: the id of one of the bot's answer messages (reply chains,
including replies to /ask responses) or the id of a thread the bot started or a DM channel.
Keeping the exact ``Turn``s costs no REST round trip and no re-parsing of the bot's own
messages. Bounded: at most ``max_turns`` turns per key, ``max_keys_per_guild`` keys per
server in the database (the oldest are forgotten), ``max_keys`` in the cache. Several shard
processes may share the store (a server's conversations are written by the one process
that serves it). Rows are tiny and keyed by primary key, so the calls are cheap enough for
the event loop.
"""

from __future__ import annotations

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
        if key is None:
            return ()
        with self._lock:
            if key in self._turns:
                self._turns.move_to_end(key)
                return self._turns[key]
            found = self._load(key)
            if found:
                self._cache(key, found)
            return found

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
        """Store ``history + turn`` under every key (answer message ids, thread id)."""
        turns = (*history, turn)[-self.max_turns:]
        keys = list(keys)
        with self._lock:
            for key in keys:
                self._cache(key, turns)
            self._save(keys, turns, "dm" if guild is None else str(guild))

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
