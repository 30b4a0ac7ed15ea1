"""The PostgreSQL database of the ``postgres`` backend: one connection pool per process, the
schema (created and upgraded here, under an advisory lock), and the sentences its failures
become.

The connection string comes only from ``ARTICLEBOT_DATABASE_URL``: it holds the password,
so it is never a setting, and no sentence or log line carries it (``redact``). The client
libraries are the optional extra ``articlebot[postgres]``, imported on first use.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from retrieval.errors import StorageError

log = logging.getLogger(__name__)

DSN_ENV = "ARTICLEBOT_DATABASE_URL"
SCHEMA_VERSION = 3
# The first key of every advisory lock the bot takes (the second: 0 for the schema, the
# hash of a collection's name for its writers), so they stay apart from other applications'.
LOCK_CLASS = 0x61620000 >> 1
CONNECT_TIMEOUT_S = 10
POOL_TIMEOUT_S = 30.0

# Each version's statements, applied in order to bring the schema from the one before.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE articlebot.collections (
            name text PRIMARY KEY,
            generation bigint NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE articlebot.meta (
            collection text NOT NULL REFERENCES articlebot.collections ON DELETE CASCADE,
            key text NOT NULL, value text NOT NULL,
            PRIMARY KEY (collection, key))""",
        """CREATE TABLE articlebot.articles (
            id bigserial PRIMARY KEY,
            collection text NOT NULL REFERENCES articlebot.collections ON DELETE CASCADE,
            title text NOT NULL, title_key text NOT NULL, source text NOT NULL,
            content_hash text NOT NULL, text text NOT NULL, added_at text NOT NULL,
            added_by text,
            UNIQUE (collection, title_key))""",
        "CREATE INDEX articles_hash ON articlebot.articles (collection, content_hash)",
        # ``collection`` repeats the article's so that every statement filters on it (a
        # B-tree serves the per-collection reads; the vectors are searched in FAISS).
        """CREATE TABLE articlebot.chunks (
            id bigserial PRIMARY KEY,
            collection text NOT NULL,
            article_id bigint NOT NULL REFERENCES articlebot.articles ON DELETE CASCADE,
            seq integer NOT NULL, paragraph integer NOT NULL, start integer NOT NULL,
            "end" integer NOT NULL, text text NOT NULL, embedding vector NOT NULL)""",
        "CREATE INDEX chunks_collection ON articlebot.chunks (collection, id)",
        "CREATE INDEX chunks_article ON articlebot.chunks (article_id, seq)",
        """CREATE TABLE articlebot.summaries (
            collection text NOT NULL REFERENCES articlebot.collections ON DELETE CASCADE,
            content_hash text NOT NULL, length text NOT NULL, model text NOT NULL,
            text text NOT NULL,
            PRIMARY KEY (collection, content_hash, length, model))""",
    ],
    # The Discord bot's follow-up memory (``retrieval.store.turns``).
    2: [
        """CREATE TABLE articlebot.turns (
            key bigint PRIMARY KEY, guild text NOT NULL,
            updated double precision NOT NULL, turns text NOT NULL)""",
        "CREATE INDEX turns_guild ON articlebot.turns (guild, updated)",
    ],
    # The question log (``retrieval.store.question_log.PostgresQuestionLog``). An entry is
    # known by its collection and id (the sequence serves every collection, but ``migrate``
    # keeps SQLite's ids, which are per collection, so that vote buttons sent before the move
    # still find their entry); votes name the collection too. ``copied_from`` marks an entry
    # ``migrate`` brought, so a second run skips it. ``secrets`` holds the key that hashes
    # voters, one for every host.
    3: [
        """CREATE TABLE articlebot.question_log (
            collection text NOT NULL REFERENCES articlebot.collections ON DELETE CASCADE,
            id bigserial,
            asked_at text NOT NULL, source text NOT NULL, question text NOT NULL,
            answer text NOT NULL, abstained boolean NOT NULL, citations text NOT NULL,
            latency_s double precision NOT NULL, copied_from text,
            PRIMARY KEY (collection, id), UNIQUE (collection, copied_from))""",
        "CREATE INDEX question_log_time ON articlebot.question_log (collection, asked_at)",
        """CREATE TABLE articlebot.question_votes (
            collection text NOT NULL, entry_id bigint NOT NULL, voter text NOT NULL,
            vote smallint NOT NULL, reason text, voted_at text NOT NULL,
            PRIMARY KEY (collection, entry_id, voter),
            FOREIGN KEY (collection, entry_id)
                REFERENCES articlebot.question_log (collection, id) ON DELETE CASCADE)""",
        "CREATE TABLE articlebot.secrets (name text PRIMARY KEY, value text NOT NULL)",
    ],
}

UNREACHABLE = f"Could not reach the PostgreSQL database named in {DSN_ENV}."
LOGIN_REFUSED = (f"PostgreSQL refused the login: check the user name and password in "
                 f"{DSN_ENV}.")
NO_PRIVILEGE = (f"The PostgreSQL role in {DSN_ENV} may not create or use the articlebot "
                f"schema: grant it CREATE on the database (or have the database's owner start "
                f"articlebot once and grant it the schema).")


def _client() -> Any:
    try:
        import psycopg
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise StorageError("The PostgreSQL backend needs its client libraries: "
                           "pip install 'articlebot[postgres]'.") from None
    return psycopg


def redact(text: str, dsn: str) -> str:
    """``text`` without the connection string or its password (as given, or URL-encoded).
    Nothing of it where the string does not parse: its parser quotes pieces of it."""
    try:
        password = _client().conninfo.conninfo_to_dict(dsn).get("password")
    except Exception:
        return "the connection string does not parse (details withheld)"
    text = text.replace(dsn, f"${DSN_ENV}")
    for form in {str(password), quote(str(password), safe="")} if password else ():
        text = text.replace(form, "***")
    return text


def connect_sentence(exc: BaseException, dsn: str) -> StorageError:
    """The one sentence for a connection that failed; the detail goes to the log."""
    detail = redact(str(exc), dsn)
    log.info("PostgreSQL connection failed: %s", " ".join(detail.split()))
    lowered = detail.lower()
    if "password" in lowered or "authentication" in lowered or "role" in lowered:
        return StorageError(LOGIN_REFUSED)
    if "database" in lowered and "does not exist" in lowered:
        return StorageError(f"The database named in {DSN_ENV} does not exist on the server.")
    if "does not parse" in lowered or ("invalid" in lowered and (
            "dsn" in lowered or "connection option" in lowered or "uri" in lowered)):
        return StorageError(f"{DSN_ENV} is not a valid PostgreSQL connection string.")
    return StorageError(UNREACHABLE)


def privilege_sentence(exc: BaseException, dsn: str) -> StorageError:
    """The one sentence for a role refused the schema set-up; the detail (which object, which
    privilege) goes to the log, where an operator looks when the bot does not start."""
    log.warning("PostgreSQL refused setting up the schema: %s",
                " ".join(redact(str(exc), dsn).split()))
    return StorageError(NO_PRIVILEGE)


def _ensure_extension(conn: Any) -> None:
    psycopg = _client()
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege:
        raise StorageError("The database lacks the pgvector extension and this role may not "
                           "add it: ask its administrator to run CREATE EXTENSION vector; "
                           "in it.") from None
    except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported):
        raise StorageError("The PostgreSQL server has no pgvector extension installed: "
                           "install pgvector 0.8 or later on it.") from None


def schema_version(conn: Any) -> int:
    # The catalog itself rather than ``to_regclass``: a name looked up in vain earlier in
    # this session may stay cached as missing until the next transaction.
    if conn.execute("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = 'articlebot' "
                    "AND tablename = 'schema_version'").fetchone() is None:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM articlebot.schema_version")
               .fetchone()[0])


def set_up(conn: Any) -> None:
    """The extension and the schema at ``SCHEMA_VERSION``; concurrent first starts wait for
    each other on the schema's advisory lock, and only the first one creates anything."""
    if schema_version(conn) == SCHEMA_VERSION:
        return
    # Locked before the transactions begin, so that they see what the previous holder made.
    conn.execute("SELECT pg_advisory_lock(%s, 0)", (LOCK_CLASS,))
    try:
        _ensure_extension(conn)
        with conn.transaction():
            _upgrade(conn, schema_version(conn))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, 0)", (LOCK_CLASS,))


def _upgrade(conn: Any, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StorageError(f"The PostgreSQL database was set up by a newer articlebot "
                           f"(schema {version}); upgrade this host.")
    conn.execute("CREATE SCHEMA IF NOT EXISTS articlebot")
    conn.execute("CREATE TABLE IF NOT EXISTS articlebot.schema_version ("
                 "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
    for number in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[number]:
            conn.execute(statement)
        conn.execute("INSERT INTO articlebot.schema_version(version) VALUES (%s)", (number,))
        log.info("PostgreSQL schema upgraded to version %d", number)


def _configure(conn: Any) -> None:
    """Every pooled connection knows the vector type (binary and text, numpy arrays)."""
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    register_vector_info(conn, TypeInfo.fetch(conn, "vector"))


class Database:
    """One PostgreSQL database: its schema checked once, then a pool of connections.

    Writers' locks hold a connection each while they wait and write; at most ``pool_size``
    of them do, so ``pool_size`` more connections always remain for the statements."""

    def __init__(self, dsn: str, pool_size: int):
        psycopg = _client()
        from psycopg_pool import ConnectionPool

        self.dsn = dsn
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                set_up(conn)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise privilege_sentence(exc, dsn) from None
        except psycopg.OperationalError as exc:
            raise connect_sentence(exc, dsn) from None
        except psycopg.ProgrammingError as exc:  # an invalid connection string
            raise connect_sentence(exc, dsn) from None
        self.lock_slots = threading.BoundedSemaphore(pool_size)
        # ``check``: a connection the server ended (a restart, a failover) is replaced when
        # it is handed out, at the cost of one round trip, instead of failing a question.
        self.pool = ConnectionPool(dsn, min_size=1, max_size=2 * pool_size, open=True,
                                   kwargs={"autocommit": True,
                                           "connect_timeout": CONNECT_TIMEOUT_S},
                                   configure=_configure, check=ConnectionPool.check_connection,
                                   timeout=POOL_TIMEOUT_S, name="articlebot")

    @contextmanager
    def connection(self, what: str) -> Iterator[Any]:
        """A pooled connection; any failure of the database becomes one sentence (``what``
        says what was being done, e.g. "read collection news")."""
        psycopg = _client()
        from psycopg_pool import PoolTimeout

        try:
            with self.pool.connection() as conn:
                yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:
            log.info("PostgreSQL: could not %s: %s", what,
                        " ".join(redact(str(exc), self.dsn).split()))
            raise StorageError(f"Could not reach the PostgreSQL database to {what}.") \
                from None
        except psycopg.Error as exc:
            log.error("PostgreSQL: could not %s: %s: %s", what, type(exc).__name__,
                      " ".join(redact(str(exc), self.dsn).split()))
            raise StorageError(f"The PostgreSQL database failed to {what}.") from None

    def close(self) -> None:
        self.pool.close()


_databases: dict[tuple[str, int], Database] = {}
_databases_lock = threading.Lock()


def database(pool_size: int) -> Database:
    """This process's database (and pool) for the connection string in the environment."""
    dsn = os.environ.get(DSN_ENV, "").strip()
    if not dsn:
        raise StorageError(f'storage.backend is "postgres" but {DSN_ENV} is not set.')
    with _databases_lock:
        found = _databases.get((dsn, pool_size))
        if found is None:
            found = _databases[(dsn, pool_size)] = Database(dsn, pool_size)
        return found


@atexit.register
def close_all() -> None:
    """Close every pool (at exit; tests call it between databases)."""
    with _databases_lock:
        for db in _databases.values():
            db.close()
        _databases.clear()
