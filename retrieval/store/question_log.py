"""The question log of one collection, kept by the collection's store backend: each answered
question with its answer, whether the bot abstained, the cited articles and paragraphs,
latency and time, and the members' votes on it.

``QuestionLog`` is all the rest of the code uses (``question_log(store)`` gives the one for a
collection's store); ``SqliteQuestionLog`` keeps it in the collection's SQLite database
(tables in ``schema``). Another backend implements the same seven methods over its own
tables. Members appear only as ``voter``, a keyed hash the caller computes (one vote per
member per answer needs no more). Writes never bump the collection's generation: the log is
not part of the indexes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from retrieval.errors import StorageError
from retrieval.store import backend, sqlite

VoteChange = Literal["recorded", "changed", "unchanged", "missing"]


@dataclass(frozen=True)
class LogRow:
    """One logged question with its votes (``reasons``: the 👎 reasons given)."""

    id: int
    asked_at: str  # ISO 8601, UTC
    source: str  # "discord" or "cli"
    question: str
    answer: str
    abstained: bool
    citations: list[tuple[int, str, int]]  # (article id, title, 0-based paragraph)
    latency_s: float
    up: int
    down: int
    reasons: list[str]


class QuestionLog(Protocol):
    def add(self, *, asked_at: str, source: str, question: str, answer: str, abstained: bool,
            citations: Sequence[tuple[int, str, int]], latency_s: float) -> int:
        """Append an entry; its id."""
        ...

    def vote(self, entry_id: int, voter: str, vote: int, voted_at: str) -> VoteChange: ...

    def set_reason(self, entry_id: int, voter: str, reason: str) -> bool: ...

    def rows(self, since: str | None = None) -> list[LogRow]: ...

    def delete_before(self, cutoff: str) -> int: ...

    def delete_all(self) -> int: ...

    def count(self) -> int: ...


def question_log(store: backend.Store) -> QuestionLog:
    """The log kept by ``store``'s backend."""
    if isinstance(store, sqlite.Store):
        return SqliteQuestionLog(store)
    raise StorageError("The question log is not kept on PostgreSQL yet: set [log] questions = "
                       "false for this bot.")


class SqliteQuestionLog:
    """Reads and writes the log through the store's connection and lock; an SQLite error
    becomes the store's one sentence naming the collection."""

    def __init__(self, store: sqlite.Store) -> None:
        self.store = store

    def add(self, *, asked_at: str, source: str, question: str, answer: str, abstained: bool,
            citations: Sequence[tuple[int, str, int]], latency_s: float) -> int:
        with self.store._plain_write() as db:
            cursor = db.execute(
                "INSERT INTO question_log(asked_at, source, question, answer, abstained, "
                "citations, latency_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (asked_at, source, question, answer, int(abstained),
                 json.dumps([list(c) for c in citations], ensure_ascii=False), latency_s))
            return int(cursor.lastrowid or 0)

    def vote(self, entry_id: int, voter: str, vote: int, voted_at: str) -> VoteChange:
        """Set ``voter``'s vote (+1 or -1) on an entry; a changed vote drops its reason."""
        with self.store._plain_write() as db:
            if db.execute("SELECT 1 FROM question_log WHERE id = ?", (entry_id,)).fetchone() \
                    is None:
                return "missing"
            row = db.execute("SELECT vote FROM question_votes WHERE entry_id = ? AND voter = ?",
                             (entry_id, voter)).fetchone()
            if row is not None and int(row[0]) == vote:
                return "unchanged"
            db.execute(
                "INSERT INTO question_votes(entry_id, voter, vote, reason, voted_at) "
                "VALUES (?, ?, ?, NULL, ?) ON CONFLICT(entry_id, voter) DO UPDATE SET "
                "vote = excluded.vote, reason = NULL, voted_at = excluded.voted_at",
                (entry_id, voter, vote, voted_at))
            return "recorded" if row is None else "changed"

    def set_reason(self, entry_id: int, voter: str, reason: str) -> bool:
        """The reason for ``voter``'s 👎 on an entry; False when there is no such 👎."""
        with self.store._plain_write() as db:
            cursor = db.execute(
                "UPDATE question_votes SET reason = ? WHERE entry_id = ? AND voter = ? "
                "AND vote < 0", (reason or None, entry_id, voter))
            return cursor.rowcount > 0

    def rows(self, since: str | None = None) -> list[LogRow]:
        """Entries asked at or after ``since`` (all without it), oldest first."""
        where, params = ("WHERE l.asked_at >= ?", (since,)) if since else ("", ())
        with self.store._reading() as db:
            found = db.execute(
                "SELECT l.id, l.asked_at, l.source, l.question, l.answer, l.abstained, "
                "l.citations, l.latency_s, "
                "(SELECT COUNT(*) FROM question_votes v WHERE v.entry_id = l.id AND v.vote > 0), "
                "(SELECT COUNT(*) FROM question_votes v WHERE v.entry_id = l.id AND v.vote < 0), "
                "(SELECT json_group_array(v.reason) FROM question_votes v "
                " WHERE v.entry_id = l.id AND v.vote < 0 AND v.reason IS NOT NULL) "
                f"FROM question_log l {where} ORDER BY l.id", params).fetchall()
        return [_row(r) for r in found]

    def delete_before(self, cutoff: str) -> int:
        """The retention purge: entries asked before ``cutoff`` go, with their votes."""
        with self.store._plain_write() as db:
            return db.execute("DELETE FROM question_log WHERE asked_at < ?",
                              (cutoff,)).rowcount

    def delete_all(self) -> int:
        with self.store._plain_write() as db:
            return db.execute("DELETE FROM question_log").rowcount

    def count(self) -> int:
        with self.store._reading() as db:
            return int(db.execute("SELECT COUNT(*) FROM question_log").fetchone()[0])


def _row(r: sqlite3.Row | tuple[object, ...]) -> LogRow:
    citations = [(int(a), str(t), int(p)) for a, t, p in json.loads(str(r[6]))]
    reasons = [str(x) for x in json.loads(str(r[10] or "[]")) if x]
    return LogRow(int(str(r[0])), str(r[1]), str(r[2]), str(r[3]), str(r[4]), bool(r[5]),
                  citations, float(str(r[7])), int(str(r[8])), int(str(r[9])), reasons)
