"""The PostgreSQL backend end to end, on a real server (``postgres_fixture.py``): engines on
separate hosts (data directories) sharing one database, guild isolation, a killed writer, the
schema set up by racing first starts, and the one-sentence failures of the command line.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import QueuedLLM, ScriptedReader
from postgres_fixture import PASSWORD, PgServer

from bot.cli import cli
from retrieval.engine import Engine
from retrieval.errors import NotFoundError
from retrieval.types import DataDir

VOLCANO = (
    "Volcano Watch\n\n"
    "Mount Etna erupted on Sunday, sending a column of ash four kilometres into the sky.\n\n"
    "Catania airport closed for six hours while crews cleared ash from the runway."
)
QUESTION = "Which airport closed after Mount Etna erupted?"
PG = {"storage.backend": "postgres", "preload_sample": False}
ANSWERING = {"search.min_score": -1.0, "search.min_support": -10.0}


def _host(fast_engine: Callable[..., Engine], tmp_path: Path, name: str, **extra: object
          ) -> Engine:
    """An engine as on another host: its own data directory, the shared database."""
    return fast_engine(data_dir=tmp_path / name, **PG, **extra)


def test_a_write_on_one_host_is_seen_by_the_others_next_question(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    host_a = _host(fast_engine, tmp_path, "host-a")
    host_b = _host(fast_engine, tmp_path, "host-b", llm=QueuedLLM("Catania airport"),
                   **ANSWERING)
    assert host_a.search(QUESTION) == host_b.search(QUESTION) == []  # both caches built
    host_a.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = host_b.ask(QUESTION)
    assert answer.text == "Catania airport" and not answer.abstained
    assert answer.citations and answer.citations[0].title == "Volcano Watch"
    host_b.remove("Volcano Watch")
    assert host_a.search(QUESTION) == [] and host_a.list_articles() == []
    with pytest.raises(NotFoundError):
        host_a.get_article("Volcano Watch")
    assert not any((tmp_path / "host-a").rglob("*.sqlite3"))  # nothing stored in files
    for host in ("host-a", "host-b"):  # but each host keeps its own index caches
        assert DataDir(tmp_path / host).collection("default").joinpath("index").is_dir()


def test_the_reader_reads_passages_widened_from_the_database(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    # The paragraphs around each found passage come from PostgreSQL's chunks and article text.
    reader = ScriptedReader("six hours")
    host = _host(fast_engine, tmp_path, "host", reader=reader, **ANSWERING)
    host.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = host.ask("How long was the airport shut?")
    assert reader.read_texts[0] == [VOLCANO.split("\n\n", 1)[1]]
    assert answer.text == "six hours" and answer.citations[0].paragraph == 1


def test_one_guild_never_finds_anothers_article(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    host = _host(fast_engine, tmp_path, "host")
    added = host.ingest_bytes(VOLCANO.encode(), "volcano.txt", collection="g1")
    assert host.search(QUESTION, collection="g1")
    assert host.search(QUESTION, collection="g2") == []
    assert host.list_articles("g2") == []
    with pytest.raises(NotFoundError):
        host.get_article(added.article.id, "g2")
    other = _host(fast_engine, tmp_path, "other")
    assert other.list_articles("g3") == []  # reading creates nothing
    assert other.search(QUESTION, collection="g2") == []


def test_a_killed_writer_leaves_no_partial_article_and_no_lock(pg_url: str) -> None:
    """A process killed mid-write: every stored article is whole, and its advisory lock is
    released with its connection."""
    script = textwrap.dedent("""
        import sys, numpy as np
        from retrieval.store.postgres import postgres_backend
        from retrieval.types import Chunk
        backend = postgres_backend(2)
        store = backend.open(None, "news", lock_timeout_s=5, faults=None)
        chunks = [Chunk(i, i, 0, 5, f"text {i}") for i in range(200)]
        vectors = np.ones((200, 8), np.float32)
        with backend.exclusive(None, "news", 5):
            print("locked", flush=True)
            for n in range(10_000):
                store.put_article(title=f"a{n}", source="s", content_hash=str(n), text="t",
                                  chunks=chunks, vectors=vectors, added_by=None)
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              env=os.environ.copy())
    assert writer.stdout is not None and writer.stdout.readline().strip() == b"locked"
    time.sleep(1.0)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    from retrieval.store.postgres import postgres_backend

    backend = postgres_backend(2)
    store = backend.open(Path("."), "news", lock_timeout_s=5, faults=None)
    articles = store.list_articles()
    assert articles and all(a.chunks == 200 for a in articles)
    assert store.chunk_count() == 200 * len(articles) == 200 * store.generation()
    with backend.exclusive(Path("."), "news", 5.0):  # the server released the lock
        pass


def test_racing_first_starts_set_the_schema_up_once(make_database: Callable[..., str]) -> None:
    import psycopg

    from retrieval.store.pgconnect import SCHEMA_VERSION, set_up

    dsn = make_database()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def first_start() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                start.wait()
                set_up(conn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version FROM articlebot.schema_version ORDER BY 1"
                            ).fetchall()
    assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]  # each version applied once


# -- the command line: one sentence, exit 1, never the password ------------------------------
def _cli(tmp_path: Path, dsn: str | None, *args: str) -> tuple[int, str]:
    env = {"ARTICLEBOT_STORAGE__BACKEND": "postgres", "ARTICLEBOT_DATABASE_URL": dsn}
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "cli"), *args], env=env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output and PASSWORD not in output
    return result.exit_code, result.stderr


@pytest.fixture(autouse=True)
def _no_pools_left() -> object:
    yield None
    from retrieval.store.pgconnect import close_all

    close_all()


@pytest.mark.parametrize(("dsn", "sentence"), [
    (None, "storage.backend is \"postgres\" but ARTICLEBOT_DATABASE_URL is not set."),
    ("host=/nonexistent/socket dbname=x user=articlebot password=" + PASSWORD,
     "Could not reach the PostgreSQL database named in ARTICLEBOT_DATABASE_URL."),
    ("postgresql://articlebot:" + PASSWORD + "@127.0.0.1:1/x",
     "Could not reach the PostgreSQL database named in ARTICLEBOT_DATABASE_URL."),
])
def test_an_unreachable_database_is_one_sentence(tmp_path: Path, dsn: str | None,
                                                 sentence: str) -> None:
    code, stderr = _cli(tmp_path, dsn, "list")
    assert code == 1 and stderr.strip() == f"Error: {sentence}"


def test_a_bad_password_is_one_sentence_without_it(pg_server: PgServer,
                                                   make_database: Callable[..., str],
                                                   tmp_path: Path) -> None:
    dsn = make_database().replace(PASSWORD, "wrong-" + PASSWORD)
    code, stderr = _cli(tmp_path, dsn, "list")
    assert code == 1
    assert stderr.strip() == ("Error: PostgreSQL refused the login: check the user name and "
                              "password in ARTICLEBOT_DATABASE_URL.")
    assert "wrong-" not in stderr


def test_a_database_without_pgvector_asks_the_admin_in_one_sentence(
    make_database: Callable[..., str], tmp_path: Path,
) -> None:
    code, stderr = _cli(tmp_path, make_database(extension=False), "list")
    assert code == 1
    assert stderr.strip() == ("Error: The database lacks the pgvector extension and this role "
                              "may not add it: ask its administrator to run CREATE EXTENSION "
                              "vector; in it.")


def test_a_role_that_may_not_create_the_schema_is_told_what_to_grant(
    pg_server: PgServer, make_database: Callable[..., str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dbname = make_database().split("dbname=")[1].split()[0]
    # A role of its own (not the database's owner, so no CREATE on it).
    pg_server.admin("DROP ROLE IF EXISTS reader")
    pg_server.admin(f"CREATE ROLE reader LOGIN PASSWORD '{PASSWORD}'")
    try:
        code, stderr = _cli(tmp_path, pg_server.dsn(dbname, user="reader"), "list")
    finally:
        pg_server.admin("DROP ROLE reader")
    assert code == 1
    assert stderr.strip() == ("Error: The PostgreSQL role in ARTICLEBOT_DATABASE_URL may not "
                              "create or use the articlebot schema: grant it CREATE on the "
                              "database (or have the database's owner start articlebot once "
                              "and grant it the schema).")
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING
                 and "refused setting up the schema" in r.getMessage()]
    assert "permission denied" in warning.getMessage()
    assert PASSWORD not in caplog.text + stderr


def test_the_cli_stores_and_lists_through_postgres(pg_url: str, tmp_path: Path) -> None:
    """``articlebot list`` on a working database (the default collection, no model load)."""
    code, stderr = _cli(tmp_path, pg_url, "list", "--collection", "empty-guild")
    assert (code, stderr) == (0, "")


def test_verbose_logs_carry_the_reason_but_never_the_password(
    make_database: Callable[..., str], tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + PASSWORD
    for dsn in (make_database().replace(PASSWORD, wrong),
                f"postgresql://articlebot:{wrong}@127.0.0.1:1/x"):
        env = {"ARTICLEBOT_STORAGE__BACKEND": "postgres", "ARTICLEBOT_DATABASE_URL": dsn}
        result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "cli"), "-vv", "list"],
                                    env=env)
        output = result.stdout + result.stderr + caplog.text
        assert result.exit_code == 1 and "PostgreSQL connection failed" in output
        assert wrong not in output and "Traceback" not in output


def test_redact_hides_the_password_and_the_connection_string() -> None:
    from retrieval.store.pgconnect import redact

    dsn = f"host=db user=bot password={PASSWORD}"
    assert redact(f"failed for {dsn}", dsn) == "failed for $ARTICLEBOT_DATABASE_URL"
    assert redact(f"bad value {PASSWORD}!", dsn) == "bad value ***!"
    url = f"postgresql://bot:{PASSWORD}@db/x"
    assert PASSWORD not in redact(f"at {url[:-2]} and {PASSWORD}", url)


def test_an_older_schema_is_upgraded_in_place_and_a_newer_one_refused(
    make_database: Callable[..., str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    from retrieval.errors import StorageError
    from retrieval.store import pgconnect

    dsn = make_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        monkeypatch.setattr(pgconnect, "SCHEMA_VERSION", 1)
        pgconnect.set_up(conn)
        conn.execute("INSERT INTO articlebot.collections(name) VALUES ('kept')")
        monkeypatch.setattr(pgconnect, "SCHEMA_VERSION", 2)  # the store before the log
        pgconnect.set_up(conn)
        conn.execute("INSERT INTO articlebot.turns VALUES (1, 'kept', 1.0, '[]')")
        monkeypatch.undo()
        pgconnect.set_up(conn)
        assert conn.execute("SELECT version FROM articlebot.schema_version ORDER BY 1"
                            ).fetchall() == [(1,), (2,), (3,)]
        assert conn.execute("SELECT name FROM articlebot.collections").fetchall() == \
            [("kept",)]
        assert conn.execute("SELECT count(*) FROM articlebot.turns").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM articlebot.question_log").fetchone() == (0,)
        conn.execute("INSERT INTO articlebot.schema_version(version) VALUES (99)")
        with pytest.raises(StorageError, match=r"newer articlebot \(schema 99\)"):
            pgconnect.set_up(conn)


def test_without_the_extra_installed_the_backend_asks_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    code, stderr = _cli(tmp_path, "host=/x dbname=x", "list")
    assert (code, stderr) == (1, "Error: The PostgreSQL backend needs its client libraries: "
                                 "pip install 'articlebot[postgres]'.\n")


@pytest.mark.parametrize("command", [["backup"], ["check"], ["restore", "default"]])
def test_sqlite_backups_say_postgres_has_its_own_tools(tmp_path: Path,
                                                       command: list[str]) -> None:
    code, stderr = _cli(tmp_path, "host=/x dbname=x", *command)
    assert (code, stderr) == (1, "Error: The PostgreSQL store is checked, backed up and "
                                 "restored with PostgreSQL's own tools (pg_dump, pg_restore).\n")


def test_connections_dropped_by_the_server_are_replaced_without_a_failed_question(
    pg_server: PgServer, pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database restart (or failover) ends every pooled connection; the next question
    gets a fresh one instead of an error."""
    caplog.set_level(logging.DEBUG)
    host = _host(fast_engine, tmp_path, "host")
    host.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    assert host.search(QUESTION)
    dbname = pg_url.split("dbname=")[1].split()[0]
    pg_server.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()")
    for _ in range(3):
        assert host.search(QUESTION)[0].title == "Volcano Watch"
    assert PASSWORD not in caplog.text


def test_a_collection_dropped_on_one_host_is_empty_on_the_other(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    host_a, host_b = (_host(fast_engine, tmp_path, name) for name in ("host-a", "host-b"))
    host_a.ingest_bytes(VOLCANO.encode(), "volcano.txt", collection="eval-tmp-1")
    assert host_b.search(QUESTION, collection="eval-tmp-1")  # B has it open, indexes built
    host_a.drop_collection("eval-tmp-1")
    assert host_b.search(QUESTION, collection="eval-tmp-1") == []
    assert host_b.list_articles("eval-tmp-1") == []
    host_b.ingest_bytes(VOLCANO.encode(), "volcano.txt", collection="eval-tmp-1")
    assert host_a.search(QUESTION, collection="eval-tmp-1")


def test_a_connection_string_that_does_not_parse_is_never_quoted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    code, stderr = _cli(tmp_path, "host=/x password=first-half second-half-9f2", "-v", "list")
    assert (code, stderr) == (1, "Error: ARTICLEBOT_DATABASE_URL is not a valid PostgreSQL "
                                 "connection string.\n")
    assert "second-half-9f2" not in caplog.text and "first-half" not in caplog.text
