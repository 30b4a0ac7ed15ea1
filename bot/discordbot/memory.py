"""Follow-up memory: the turns of each conversation, in SQLite (survives restarts) with a
small in-process cache in front.

A conversation is found by a key: the id of one of the bot's answer messages (reply chains,
including replies to /ask responses) or the id of a thread the bot started or a DM channel.
Keeping the exact ``Turn``s costs no REST round trip and no re-parsing of the bot's own
messages. Bounded: at most ``max_turns`` turns per key, ``max_keys_per_guild`` keys per
server in the database (the oldest are forgotten), ``max_keys`` in the cache. Several shard
processes may share the file (a server's conversations are written by the one process
that serves it; SQLite serialises the writes). Rows are tiny and keyed by primary key, so
the calls are cheap enough for the event loop.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

from retrieval.types import Turn

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    key INTEGER PRIMARY KEY,
    guild TEXT NOT NULL,
    updated REAL NOT NULL,
    turns TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_guild ON turns(guild, updated);
"""


class ConversationMemory:
    def __init__(self, max_keys: int = 20_000, max_turns: int = 10, *,
                 path: Path | None = None, max_keys_per_guild: int = 2_000) -> None:
        self.max_keys = max_keys
        self.max_turns = max_turns
        self.max_keys_per_guild = max_keys_per_guild
        self._turns: OrderedDict[int, tuple[Turn, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                 timeout=5.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            return db
        except (OSError, sqlite3.Error) as exc:
            # Follow-ups still work until the next restart; answers never depend on this.
            log.warning("follow-up memory kept in process memory only: %s", exc)
            return None

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
        if self._db is None:
            return ()
        try:
            row = self._db.execute("SELECT turns FROM turns WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            log.warning("could not read follow-up memory: %s", exc)
            return ()
        if row is None:
            return ()
        return tuple(Turn(q, a) for q, a in json.loads(row[0]))[-self.max_turns:]

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
        if self._db is None or not keys:
            return
        data = json.dumps([[t.question, t.answer] for t in turns], ensure_ascii=False)
        now = time.time()
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO turns(key, guild, updated, turns) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET guild = excluded.guild, "
                "updated = excluded.updated, turns = excluded.turns",
                [(key, guild, now, data) for key in keys])
            self._db.execute(
                "DELETE FROM turns WHERE guild = ? AND key NOT IN (SELECT key FROM turns "
                "WHERE guild = ? ORDER BY updated DESC, key DESC LIMIT ?)",
                (guild, guild, self.max_keys_per_guild))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            log.warning("could not save follow-up memory: %s", exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __len__(self) -> int:
        return len(self._turns)
