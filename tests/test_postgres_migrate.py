"""``articlebot migrate --to postgres``: a SQLite data directory copied into a real
PostgreSQL (``postgres_fixture.py``) whole, question logs and votes included, a second run
harmless, and the copy serving another host."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from postgres_fixture import PASSWORD

from bot.cli import cli
from retrieval.engine import Engine
from retrieval.store.question_log import question_log
from retrieval.store.turns import SqliteTurns
from retrieval.types import Answer, DataDir

VOLCANO = ("Volcano Watch\n\nMount Etna erupted on Sunday, sending ash into the sky.\n\n"
           "Catania airport closed for six hours while crews cleared the runway.")
FERRY = ("Ferry Timetable\n\nThe island ferry to Portree now leaves at seven in the morning.\n\n"
         "Tickets are sold at the harbour office.")


def _migrate(data_dir: Path, dsn: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "migrate", "--to",
                                      "postgres"], env={"ARTICLEBOT_DATABASE_URL": dsn})
    assert "Traceback" not in result.output and PASSWORD not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_a_sqlite_data_directory_is_copied_whole_and_again_harmlessly(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    old = fast_engine(data_dir=tmp_path / "old", preload_sample=False)
    volcano = old.ingest_bytes(VOLCANO.encode(), "volcano.txt", added_by="alice").article
    old.ingest_bytes(FERRY.encode(), "ferry.txt", collection="g1")
    old.collection().store.save_summary(volcano.content_hash, "short", "m", "[\"Etna\"]")
    memory = SqliteTurns(DataDir(tmp_path / "old").memory)
    memory.save([41, 42], "7", 1.0, json.dumps([["q", "a"]]), keep=10)
    memory.close()
    old.close()

    code, out, _ = _migrate(tmp_path / "old", pg_url)
    assert code == 0, out
    assert "default: 1 articles, 2 passages in PostgreSQL (1 copied now)" in out
    assert "g1: 1 articles, 2 passages in PostgreSQL (1 copied now)" in out
    assert "follow-up memory: 2 conversations in PostgreSQL (2 copied now)" in out
    code, out, _ = _migrate(tmp_path / "old", pg_url)
    assert code == 0 and "(0 copied now)" in out and "(1 copied now)" not in out

    new = fast_engine(data_dir=tmp_path / "new-host", preload_sample=False,
                      **{"storage.backend": "postgres"})
    [copied] = new.list_articles()
    assert (copied.title, copied.chunks, copied.added_by, copied.added_at) == \
        ("Volcano Watch", 2, "alice", volcano.added_at)
    assert new.search("When does the ferry to Portree leave?", collection="g1")[0].title == \
        "Ferry Timetable"
    assert new.collection().store.cached_summary(volcano.content_hash, "short", "m") == \
        "[\"Etna\"]"
    assert new.collection().store.get_meta("sample_loaded") is None
    turns = new.conversation_turns()
    assert turns is not None and json.loads(turns.load(42) or "[]") == [["q", "a"]]


def test_running_it_again_keeps_what_changed_in_postgresql_since(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    old = fast_engine(data_dir=tmp_path / "old", preload_sample=False)
    old.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    old.ingest_bytes(FERRY.encode(), "ferry.txt")
    old.feedback.set_enabled(None, True)
    old.collection().store.save_summary("h", "short", "m", "[\"old\"]")
    old.close()
    assert _migrate(tmp_path / "old", pg_url)[0] == 0

    # On PostgreSQL: the ferry article is updated, the volcano one removed, logging turned
    # off, the summary rewritten.
    host = fast_engine(data_dir=tmp_path / "host", preload_sample=False,
                       **{"storage.backend": "postgres"})
    updated = FERRY.replace("seven", "eight").encode()
    new_hash = host.ingest_bytes(updated, "ferry.txt").article.content_hash
    host.remove("Volcano Watch")
    host.feedback.set_enabled(None, False)
    host.collection().store.save_summary("h", "short", "m", "[\"new\"]")

    code, out, _ = _migrate(tmp_path / "old", pg_url)
    assert code == 0, out
    assert "default: 2 articles, 4 passages in PostgreSQL (0 copied now); left as " \
        "PostgreSQL has it (differs): Ferry Timetable; removed in PostgreSQL since copied, " \
        "not restored: Volcano Watch" in out, out
    assert [(a.title, a.content_hash) for a in host.list_articles()] == \
        [("Ferry Timetable", new_hash)]
    assert not host.feedback.enabled(None)
    assert host.collection().store.cached_summary("h", "short", "m") == "[\"new\"]"


def test_an_unreachable_target_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    code, _, err = _migrate(tmp_path / "old", f"host=/nonexistent dbname=x password={PASSWORD}")
    assert (code, err) == (1, "Error: Could not reach the PostgreSQL database named in "
                              "ARTICLEBOT_DATABASE_URL.\n")


def test_the_question_log_is_copied_with_its_votes_and_members_keep_their_votes(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    old = fast_engine(data_dir=tmp_path / "old", preload_sample=False)
    asked = old.feedback.record("Who runs the ferry?", Answer("The council.", False, []),
                                collection="g1", latency_s=1.5)
    old.feedback.record("When does it leave?", Answer("I don't know.", True, []),
                        collection="g1", latency_s=0.5)
    assert asked is not None
    assert old.feedback.vote(asked, "7", up=False, collection="g1") == "recorded"
    assert old.feedback.give_reason(asked, "7", "It is the harbour trust", collection="g1")
    assert old.feedback.vote(asked, "8", up=True, collection="g1") == "recorded"
    old.close()

    code, out, _ = _migrate(tmp_path / "old", pg_url)
    assert code == 0, out
    assert "g1: question log: 2 entries, 2 votes in PostgreSQL (2 copied now)" in out
    code, out, _ = _migrate(tmp_path / "old", pg_url)
    assert code == 0 and "g1: question log: 2 entries, 2 votes in PostgreSQL (0 copied now)" \
        in out

    new = fast_engine(data_dir=tmp_path / "new-host", preload_sample=False,
                      **{"storage.backend": "postgres"})
    month = new.feedback.stats("g1")[1]
    assert (month.questions, month.answered, month.up, month.down) == (2, 1, 1, 1)
    assert sorted(g.reasons for g in new.feedback.unanswered("g1")) == \
        [[], ["It is the harbour trust"]]
    rows = question_log(new.collection("g1").store).rows()
    assert [(r.id, r.question, r.latency_s) for r in rows] == \
        [(asked, "Who runs the ferry?", 1.5), (asked + 1, "When does it leave?", 0.5)]
    # The entry kept its id, so a vote button sent before the move still finds it, and the
    # data directory's voters' key came along: member 7's 👎 is still theirs.
    assert new.feedback.vote(asked, "7", up=False, collection="g1") == "unchanged"
    assert new.feedback.vote(asked, "9", up=False, collection="g1") == "recorded"
    later = new.feedback.record("Who?", Answer("The trust.", False, []), collection="g1",
                                latency_s=1.0)
    assert later is not None and later > asked + 1


def test_a_log_entry_whose_id_the_database_took_meanwhile_gets_a_new_one(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    old = fast_engine(data_dir=tmp_path / "old", preload_sample=False)
    first = old.feedback.record("Old?", Answer("Yes.", False, []), collection="g1",
                                latency_s=1.0)
    old.close()
    host = fast_engine(data_dir=tmp_path / "host", preload_sample=False,
                       **{"storage.backend": "postgres"})
    assert host.feedback.record("New?", Answer("No.", False, []), collection="g1",
                                latency_s=1.0) == first == 1
    for copied in (1, 0):
        code, out, _ = _migrate(tmp_path / "old", pg_url)
        assert code == 0 and f"g1: question log: 1 entries, 0 votes in PostgreSQL ({copied} " \
            "copied now)" in out, out
    rows = question_log(host.collection("g1").store).rows()
    assert [(r.id, r.question) for r in rows] == [(1, "New?"), (rows[1].id, "Old?")]
    assert rows[1].id > 1
