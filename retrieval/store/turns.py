"""Where the Discord bot's follow-up memory persists: rows of (key, guild, updated, turns as
JSON), bounded per guild. ``SqliteTurns`` keeps them in one file of the data directory that
the shard processes of one host share; the PostgreSQL backend keeps them in its database
(``postgres.PostgresTurns``), shared by every host. The bot's cache in front of them and the
meaning of a key live in ``bot.discordbot.memory``.

Failures raise ``StorageError``; the memory logs them and carries on (answers never depend
on it).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from retrieval.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    key INTEGER PRIMARY KEY,
    guild TEXT NOT NULL,
    updated REAL NOT NULL,
    turns TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_guild ON turns(guild, updated);
"""


class TurnStore(Protocol):
    def load(self, key: int) -> str | None:
        """The turns stored under ``key`` (JSON), if any."""
        ...

    def save(self, keys: Sequence[int], guild: str, updated: float, turns: str,
             keep: int) -> None:
        """Store ``turns`` under every key, then forget all but the ``keep`` most recently
        updated keys of ``guild``; one transaction."""
        ...

    def close(self) -> None: ...


class SqliteTurns:
    """The follow-up memory in one SQLite file (WAL; several processes may share it, and
    SQLite serialises their writes)."""

    def __init__(self, path: Path):
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                 timeout=5.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"Could not open the follow-up memory ({exc}).") from exc
        self._db: sqlite3.Connection | None = db

    def load(self, key: int) -> str | None:
        with self._lock:
            if self._db is None:
                return None
            try:
                row = self._db.execute("SELECT turns FROM turns WHERE key = ?",
                                       (key,)).fetchone()
            except sqlite3.Error as exc:
                raise StorageError(f"Could not read the follow-up memory ({exc}).") from exc
        return None if row is None else str(row[0])

    def save(self, keys: Sequence[int], guild: str, updated: float, turns: str,
             keep: int) -> None:
        with self._lock:
            db = self._db
            if db is None or not keys:
                return
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT INTO turns(key, guild, updated, turns) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET guild = excluded.guild, "
                    "updated = excluded.updated, turns = excluded.turns",
                    [(key, guild, updated, turns) for key in keys])
                db.execute(
                    "DELETE FROM turns WHERE guild = ? AND key NOT IN (SELECT key FROM turns "
                    "WHERE guild = ? ORDER BY updated DESC, key DESC LIMIT ?)",
                    (guild, guild, keep))
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise StorageError(f"Could not save the follow-up memory ({exc}).") from exc

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
