"""``articlebot migrate --to postgres``: copy a data directory's SQLite collections, their
meta, summary cache and question log, the voters' key and the bot's follow-up memory into
the PostgreSQL store.

Re-running it copies only what the target lacks, so that it never undoes what the hosts on
PostgreSQL did since: an article whose title the target holds is left as it is there (if it
differs from the source's, the count names it), and so is one removed there after an earlier
run copied it (each copied title is marked in the target's meta); meta keys and summaries
the target has keep their values (a later ``/insight log off`` stays off); log entries
(marked with their SQLite id and time), votes and conversations already there are kept.
Each collection is copied under both writers' locks (the SQLite file lock and the PostgreSQL
advisory lock), one transaction per article and one for its log, and ends with a count
check: every source article in the target (or removed there since), and every log entry and
vote. Article and log entry ids are the target's own (its sequences are shared by all
collections); titles carry over. The data directory's voters' key becomes the database's
unless the database has one already, so that members' earlier votes still count as theirs.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import StorageError
from retrieval.store import filelock
from retrieval.store.backend import Store, title_key
from retrieval.store.collection import LOCK_FILE, STORE_FILE, SqliteFiles
from retrieval.store.faults import FaultLog
from retrieval.store.postgres import PostgresBackend, PostgresStore, PostgresTurns
from retrieval.store.question_log import PostgresQuestionLog
from retrieval.store.voter_key import read_key
from retrieval.types import Chunk, DataDir, MigrationResult

log = logging.getLogger(__name__)

MEMORY = "follow-up memory"


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


def _marker(title: str) -> str:
    """The target's meta key saying ``title`` was copied (or found there) by a migrate."""
    return f"migrated:{title_key(title)}"


def _copy_articles(source: Store, target: Store) -> int:
    """The source's articles whose titles the target lacks and never had from a migrate."""
    ids, vectors, _, _ = source.all_chunks()
    by_id = dict(zip(ids.tolist(), vectors))
    copied = 0
    for info in source.list_articles():
        marker = _marker(info.title)
        if target.article_by_title(info.title) is None and target.get_meta(marker) is None:
            stored = source.chunks_of_article(info.id)
            rows = np.vstack([by_id[c.id] for c in stored]) if stored else \
                np.zeros((0, vectors.shape[1] if len(ids) else 0), np.float32)
            target.put_article(
                title=info.title, source=info.source, content_hash=info.content_hash,
                text=source.article_text(info.id), added_by=info.added_by,
                added_at=info.added_at,
                chunks=[Chunk(c.seq, c.paragraph, c.start, c.end, c.text) for c in stored],
                vectors=rows)
            copied += 1
        if target.get_meta(marker) is None:
            target.set_meta(marker, info.content_hash)
    return copied


def _copy_extras(path: Path, target: PostgresStore) -> None:
    """Meta (not the generation: the target keeps its own) and the summary cache, where
    the target has no value of its own."""
    db = _read_only(path)
    try:
        meta = db.execute("SELECT key, value FROM meta WHERE key != 'generation'").fetchall()
        summaries = db.execute(
            "SELECT content_hash, length, model, text FROM summaries").fetchall()
    finally:
        db.close()
    with target.db.connection(f"store into collection {target.name}") as conn, \
            conn.transaction():
        conn.cursor().executemany(
            "INSERT INTO articlebot.meta(collection, key, value) VALUES (%s, %s, %s) "
            "ON CONFLICT (collection, key) DO NOTHING",
            [(target.name, str(k), str(v)) for k, v in meta])
        conn.cursor().executemany(
            "INSERT INTO articlebot.summaries(collection, content_hash, length, model, text) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (collection, content_hash, length, model) "
            "DO NOTHING", [(target.name, *row) for row in summaries])


def _compare(source: Store, target: Store) -> tuple[list[str], list[str], list[str]]:
    """Titles of the source's articles the target lacks, holds otherwise (other content or
    passages), and had but removed since a migrate copied them."""
    held = {title_key(a.title): (a.content_hash, a.chunks) for a in target.list_articles()}
    missing: list[str] = []
    differ: list[str] = []
    removed: list[str] = []
    for a in source.list_articles():
        there = held.get(title_key(a.title))
        if there is None:
            (removed if target.get_meta(_marker(a.title)) else missing).append(a.title)
        elif there != (a.content_hash, a.chunks):
            differ.append(a.title)
    return missing, differ, removed


def _read_log(path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    db = _read_only(path)
    try:
        entries = db.execute("SELECT id, asked_at, source, question, answer, abstained, "
                             "citations, latency_s FROM question_log ORDER BY id").fetchall()
        # Only votes on an entry: a file written without foreign keys may hold others.
        votes = db.execute("SELECT entry_id, voter, vote, reason, voted_at FROM question_votes "
                           "WHERE entry_id IN (SELECT id FROM question_log)").fetchall()
    finally:
        db.close()
    return entries, votes


def _copy_log(path: Path, name: str, target: Store) -> MigrationResult | None:
    """The collection's question log, entries and votes; None when it has none."""
    entries, votes = _read_log(path)
    if not entries:
        return None
    assert isinstance(target, PostgresStore)
    table = PostgresQuestionLog(target)
    copied = table.copy_in(entries, votes)
    found, voted = table.copied(entries, votes)
    ok = (found, voted) == (len(entries), len(votes))
    return MigrationResult(name, len(entries), copied, len(votes), ok=ok, kind="log",
                           detail="" if ok else f"question log: {len(entries) - found} "
                           f"entries and {len(votes) - voted} votes missing")


def copy_collection(directory: Path, name: str, backend: PostgresBackend,
                    lock_timeout_s: float) -> list[MigrationResult]:
    """The collection's result, then its question log's where it has one."""
    try:
        source = SqliteFiles().open(directory, name, lock_timeout_s=lock_timeout_s,
                                    faults=FaultLog())
    except StorageError as exc:
        return [MigrationResult(name, 0, 0, ok=False, detail=str(exc))]
    try:
        with filelock.exclusive(directory / LOCK_FILE, lock_timeout_s), \
                backend.exclusive(directory, name, lock_timeout_s):
            target = backend.open(directory, name, lock_timeout_s=lock_timeout_s, faults=None)
            assert isinstance(target, PostgresStore)
            copied = _copy_articles(source, target)
            _copy_extras(directory / STORE_FILE, target)
            logged = _copy_log(directory / STORE_FILE, name, target)
            missing, differ, removed = _compare(source, target)
        articles = source.list_articles()
    finally:
        source.close()
    result = MigrationResult(name, len(articles), copied, sum(a.chunks for a in articles),
                             ok=not missing, detail=_detail(missing, differ, removed))
    return [result] if logged is None else [result, logged]


def _detail(missing: list[str], differ: list[str], removed: list[str]) -> str:
    parts = [f"{what}: {', '.join(titles[:3])}{' …' if len(titles) > 3 else ''}"
             for what, titles in (("not copied whole", missing),
                                  ("left as PostgreSQL has it (differs)", differ),
                                  ("removed in PostgreSQL since copied, not restored", removed))
             if titles]
    return "; ".join(parts)


def copy_member_key(path: Path, backend: PostgresBackend) -> None:
    """The data directory's voters' key into the database, unless it holds one already."""
    if not path.is_file():
        return
    if backend.member_key(path, initial=read_key(path)) != read_key(path):
        log.warning("the database already had a voters' key: members may vote once more on "
                    "answers logged before the move")


def copy_memory(path: Path, turns: PostgresTurns) -> MigrationResult | None:
    """The follow-up memory's conversations, those already in the target kept."""
    if not path.is_file():
        return None
    db = _read_only(path)
    try:
        rows = db.execute("SELECT key, guild, updated, turns FROM turns").fetchall()
    except sqlite3.Error as exc:
        return MigrationResult(MEMORY, 0, 0, ok=False, detail=f"unreadable ({exc})")
    finally:
        db.close()
    copied = turns.insert_missing(rows)
    found = turns.count_keys([int(r[0]) for r in rows])
    return MigrationResult(MEMORY, len(rows), copied, ok=found == len(rows), kind="memory",
                           detail="" if found == len(rows) else
                           f"{len(rows) - found} conversations missing")


def migrate_to_postgres(data: DataDir, names: list[str], backend: PostgresBackend,
                        lock_timeout_s: float) -> list[MigrationResult]:
    copy_member_key(data.member_key, backend)
    results = [r for name in names
               for r in copy_collection(data.collection(name), name, backend, lock_timeout_s)]
    memory = copy_memory(data.memory, backend.turns(data.memory))
    return results if memory is None else [*results, memory]
