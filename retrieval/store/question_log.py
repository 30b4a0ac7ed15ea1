"""The question log of one collection, kept by the collection's store backend: each answered
question with its answer, whether the bot abstained, the cited articles and paragraphs,
latency and time, and the members' votes on it.

``QuestionLog`` is all the rest of the code uses (``question_log(store)`` gives the one for a
collection's store); ``SqliteQuestionLog`` keeps it in the collection's SQLite database
(tables in ``schema``), ``PostgresQuestionLog`` in the shared PostgreSQL database (tables in
``pgconnect``, every statement filtered by collection, as in ``postgres``). Members appear
only as ``voter``, a keyed hash the caller computes (one vote per member per answer needs no
more). Writes never bump the collection's generation: the log is not part of the indexes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from retrieval.errors import StorageError
from retrieval.store import backend, sqlite
from retrieval.store.postgres import PostgresStore

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
    if isinstance(store, PostgresStore):
        return PostgresQuestionLog(store)
    raise StorageError(f"The question log is not kept in a {type(store).__name__}.")


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
                (asked_at, source, question, answer, int(abstained), _citations(citations),
                 latency_s))
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


# One collection's entries with their votes counted; ``%s`` are the collection, then a
# lower bound on ``asked_at`` or NULL.
_PG_ROWS = (
    "SELECT l.id, l.asked_at, l.source, l.question, l.answer, l.abstained, l.citations, "
    "l.latency_s, count(v.vote) FILTER (WHERE v.vote > 0), "
    "count(v.vote) FILTER (WHERE v.vote < 0), "
    "coalesce(json_agg(v.reason ORDER BY v.voted_at, v.voter) "
    "FILTER (WHERE v.vote < 0 AND v.reason IS NOT NULL), '[]')::text "
    "FROM articlebot.question_log l LEFT JOIN articlebot.question_votes v "
    "ON v.collection = l.collection AND v.entry_id = l.id "
    "WHERE l.collection = %s AND (%s::text IS NULL OR l.asked_at >= %s) "
    "GROUP BY l.collection, l.id ORDER BY l.id")
_PG_ENTRY = ("INSERT INTO articlebot.question_log(collection, asked_at, source, question, "
             "answer, abstained, citations, latency_s, copied_from) "
             "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ")
_PG_COPY = ("INSERT INTO articlebot.question_log(collection, asked_at, source, question, "
            "answer, abstained, citations, latency_s, copied_from, id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")
# Past every id ``migrate`` kept, so that new entries of any collection never meet one.
_PG_SEQUENCE = ("SELECT setval('articlebot.question_log_id_seq', "
                "greatest(%s, (SELECT last_value FROM articlebot.question_log_id_seq)))")
_PG_VOTE = ("INSERT INTO articlebot.question_votes(collection, entry_id, voter, vote, reason, "
            "voted_at) VALUES (%s, %s, %s, %s, %s, %s) ")


class PostgresQuestionLog:
    """The log in the shared database: one per collection whichever host asks. New entry ids
    come from one sequence for all collections (copied ones keep SQLite's); an entry is known
    by collection and id, so an id from another server is "missing" here. A vote locks its
    entry's row, so two hosts' clicks of one member are counted once."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.name = store.name

    def add(self, *, asked_at: str, source: str, question: str, answer: str, abstained: bool,
            citations: Sequence[tuple[int, str, int]], latency_s: float) -> int:
        with self.store._write() as conn:
            return int(conn.execute(
                _PG_ENTRY + "RETURNING id",
                (self.name, asked_at, source, question, answer, abstained, _citations(citations),
                 latency_s, None)).fetchone()[0])

    def vote(self, entry_id: int, voter: str, vote: int, voted_at: str) -> VoteChange:
        """As ``SqliteQuestionLog.vote``."""
        with self.store._write() as conn, conn.transaction():
            if conn.execute("SELECT 1 FROM articlebot.question_log WHERE collection = %s AND "
                            "id = %s FOR UPDATE", (self.name, entry_id)).fetchone() is None:
                return "missing"
            row = conn.execute("SELECT vote FROM articlebot.question_votes WHERE collection = %s "
                               "AND entry_id = %s AND voter = %s",
                               (self.name, entry_id, voter)).fetchone()
            if row is not None and int(row[0]) == vote:
                return "unchanged"
            conn.execute(_PG_VOTE + "ON CONFLICT (collection, entry_id, voter) DO UPDATE SET "
                         "vote = excluded.vote, reason = NULL, voted_at = excluded.voted_at",
                         (self.name, entry_id, voter, vote, None, voted_at))
            return "recorded" if row is None else "changed"

    def set_reason(self, entry_id: int, voter: str, reason: str) -> bool:
        with self.store._write() as conn:
            return bool(conn.execute(
                "UPDATE articlebot.question_votes SET reason = %s WHERE collection = %s AND "
                "entry_id = %s AND voter = %s AND vote < 0",
                (reason or None, self.name, entry_id, voter)).rowcount > 0)

    def rows(self, since: str | None = None) -> list[LogRow]:
        with self.store._read() as conn:
            return [_row(r) for r in conn.execute(_PG_ROWS, (self.name, since, since))]

    def delete_before(self, cutoff: str) -> int:
        """The retention purge; the votes go with their entries (``ON DELETE CASCADE``)."""
        with self.store._write() as conn:
            return int(conn.execute("DELETE FROM articlebot.question_log WHERE collection = %s "
                                    "AND asked_at < %s", (self.name, cutoff)).rowcount)

    def delete_all(self) -> int:
        with self.store._write() as conn:
            return int(conn.execute("DELETE FROM articlebot.question_log WHERE collection = %s",
                                    (self.name,)).rowcount)

    def count(self) -> int:
        with self.store._read() as conn:
            return int(conn.execute("SELECT count(*) FROM articlebot.question_log WHERE "
                                    "collection = %s", (self.name,)).fetchone()[0])

    # -- ``articlebot migrate`` -------------------------------------------------------------
    def copy_in(self, entries: Sequence[tuple[Any, ...]],
                votes: Sequence[tuple[Any, ...]]) -> int:
        """SQLite's rows (``entries``: id, asked_at, source, question, answer, abstained,
        citations, latency_s; ``votes``: entry id, voter, vote, reason, voted_at) in one
        transaction, each entry marked with ``copied_key`` and keeping its id unless the
        collection has another entry by that id; entries and votes already here are kept.
        Returns how many entries were new."""
        with self.store._write() as conn, conn.transaction():
            if entries:  # first, so that a new id below meets none of the kept ones
                conn.execute(_PG_SEQUENCE, (max(int(e[0]) for e in entries),))
            new = 0
            for e in entries:
                row = (self.name, *e[1:5], bool(e[5]), *e[6:8], copied_key(e))
                added = conn.execute(_PG_COPY, (*row, int(e[0]))).rowcount
                if not added:  # copied before (nothing then), or its id taken: a new id
                    added = conn.execute(_PG_ENTRY + "ON CONFLICT DO NOTHING", row).rowcount
                new += added
            ids = dict(conn.execute(
                "SELECT copied_from, id FROM articlebot.question_log WHERE collection = %s "
                "AND copied_from = ANY(%s)", (self.name, [copied_key(e) for e in entries])))
            by_source = {int(e[0]): ids[copied_key(e)] for e in entries if copied_key(e) in ids}
            if votes:  # a vote whose entry did not arrive stays out: the count check says so
                conn.cursor().executemany(
                    _PG_VOTE + "ON CONFLICT (collection, entry_id, voter) DO NOTHING",
                    [(self.name, by_source[int(v[0])], *v[1:]) for v in votes
                     if int(v[0]) in by_source])
            return new

    def copied(self, entries: Sequence[tuple[Any, ...]],
               votes: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
        """How many of SQLite's entries and votes (as for ``copy_in``) are here."""
        keys = {int(e[0]): copied_key(e) for e in entries}
        with self.store._read() as conn:
            found = conn.execute("SELECT count(*) FROM articlebot.question_log WHERE "
                                 "collection = %s AND copied_from = ANY(%s)",
                                 (self.name, list(keys.values()))).fetchone()[0]
            voted = conn.execute(
                "SELECT count(*) FROM articlebot.question_votes v JOIN articlebot.question_log "
                "l ON l.collection = v.collection AND l.id = v.entry_id WHERE v.collection = %s "
                "AND (l.copied_from, v.voter) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                (self.name, [keys.get(int(v[0]), "") for v in votes],
                 [str(v[1]) for v in votes])).fetchone()[0]
        return int(found), int(voted)


def copied_key(entry: tuple[Any, ...]) -> str:
    """What marks an entry copied from SQLite: its id there and when it was asked."""
    return f"sqlite/{entry[0]}/{entry[1]}"


def _citations(citations: Sequence[tuple[int, str, int]]) -> str:
    return json.dumps([list(c) for c in citations], ensure_ascii=False)

