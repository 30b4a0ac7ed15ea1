"""The collection database's tables and their one-time set-up (WAL, schema, version)."""

from __future__ import annotations

import sqlite3

# Raised whenever the schema changes; a database below it is set up (again) on open.
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    title_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    text TEXT NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT
);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    paragraph INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id, seq);
CREATE TABLE IF NOT EXISTS summaries (
    content_hash TEXT NOT NULL,
    length TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (content_hash, length, model)
);
-- Version 2: the question log (``retrieval.store.question_log``), kept only while the
-- server's admin has it on; a voter is a keyed hash of the member id, never a name.
CREATE TABLE IF NOT EXISTS question_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    asked_at TEXT NOT NULL,
    source TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    citations TEXT NOT NULL,
    latency_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS question_log_time ON question_log(asked_at);
CREATE TABLE IF NOT EXISTS question_votes (
    entry_id INTEGER NOT NULL REFERENCES question_log(id) ON DELETE CASCADE,
    voter TEXT NOT NULL,
    vote INTEGER NOT NULL,
    reason TEXT,
    voted_at TEXT NOT NULL,
    PRIMARY KEY (entry_id, voter)
);
"""



def is_set_up(db: sqlite3.Connection) -> bool:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    return version >= SCHEMA_VERSION and db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def set_up(db: sqlite3.Connection) -> None:
    """WAL and the schema, idempotent; called holding the set-up lock."""
    db.execute("PRAGMA journal_mode=WAL")
    try:
        # One transaction: a process opening the file meanwhile sees all tables or none.
        db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; "
                         "COMMIT;")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
