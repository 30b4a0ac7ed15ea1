"""The question log behind feedback and admin insight, on the test doubles: what is stored and
where, one vote per member, the switch, retention, erasure, the unanswered list and the stats,
each against both backends (SQLite files and a real PostgreSQL, ``postgres_fixture.py``);
then hosts sharing one PostgreSQL log. The Discord side is in ``test_bot_feedback.py``;
grouping on the real embedder at the end."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import HashingEmbedder

from retrieval.engine import Engine
from retrieval.insight.figures import percentile
from retrieval.insight.grouping import group_by_meaning
from retrieval.types import Answer, Citation, DataDir

TITLE = "Harbour News"


def _answer(text: str = "Morag Campbell", abstained: bool = False) -> Answer:
    cites = [] if abstained else [Citation(1, TITLE, 0, "the harbour master Morag Campbell", 1.0)]
    return Answer(text, abstained, cites)


PG = {"storage.backend": "postgres", "preload_sample": False}


@pytest.fixture(params=["sqlite", "postgres"])
def log_engine(request: pytest.FixtureRequest,
               fast_engine: Callable[..., Engine]) -> Callable[..., Engine]:
    """``log_engine(**settings)``: a fast engine on SQLite files or on the session's
    PostgreSQL (a database of its own per test)."""
    if request.param == "sqlite":
        return fast_engine
    request.getfixturevalue("pg_url")
    return lambda **overrides: fast_engine(**{**PG, **overrides})


@pytest.fixture()
def one_engine(log_engine: Callable[..., Engine]) -> Engine:
    return log_engine()


def _sql(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (SQLite's table names) straight from where guild-1's log is kept."""
    if engine.settings.storage.backend == "sqlite":
        path = DataDir(engine.settings.data_dir).collection("guild-1") / "store.sqlite3"
        with sqlite3.connect(path) as db:
            return db.execute(sql).fetchall()
    import psycopg

    from retrieval.store.pgconnect import DSN_ENV

    sql = sql.replace("FROM question_", "FROM articlebot.question_")
    with psycopg.connect(os.environ[DSN_ENV]) as conn:
        return conn.execute(f"{sql} WHERE collection = 'guild-1'").fetchall()  # type: ignore


def _collection_exists(engine: Engine, name: str) -> bool:
    directory = DataDir(engine.settings.data_dir).collection(name)
    return engine._collections.backend.exists(directory, name)


def test_feedback_log_is_stored_in_the_collections_database_with_hashed_voters(
    one_engine: Engine,
) -> None:
    feedback = one_engine.feedback
    entry = feedback.record("Who is the harbour master?", _answer(), collection="guild-1",
                            latency_s=1.25)
    assert entry is not None
    assert feedback.vote(entry, "111", up=False, collection="guild-1") == "recorded"
    assert feedback.give_reason(entry, "111", "  Wrong   person " + "x" * 400,
                                collection="guild-1")
    [row] = _sql(one_engine, "SELECT question, answer, abstained, citations, latency_s "
                         "FROM question_log")
    assert row == ("Who is the harbour master?", "Morag Campbell", 0,  # False == 0
                   f'[[1, "{TITLE}", 0]]', 1.25)
    [(voter, reason)] = _sql(one_engine, "SELECT voter, reason FROM question_votes")
    assert len(voter) == 64 and "111" not in voter  # a keyed hash, not the member id
    assert reason.startswith("Wrong person x") and len(reason) == 300
    key = DataDir(one_engine.settings.data_dir).member_key
    if one_engine.settings.storage.backend == "sqlite":
        assert key.stat().st_mode & 0o777 == 0o600
    else:  # one key in the database for every host, none in the data directory
        assert not key.exists()
    # Another server's collection has no such entry: a vote there changes nothing here.
    assert feedback.vote(entry, "111", up=True, collection="guild-2") == "missing"


def test_feedback_one_vote_per_member_changeable_and_twice_in_a_row(one_engine: Engine) -> None:
    feedback = one_engine.feedback
    entry = feedback.record("Who?", _answer(), collection="guild-1", latency_s=1.0)
    assert entry is not None
    assert feedback.vote(entry, "1", up=False, collection="guild-1") == "recorded"
    assert feedback.give_reason(entry, "1", "wrong", collection="guild-1")
    assert feedback.vote(entry, "1", up=False, collection="guild-1") == "unchanged"
    assert feedback.vote(entry, "1", up=True, collection="guild-1") == "changed"
    assert feedback.vote(entry, "2", up=True, collection="guild-1") == "recorded"
    assert feedback.vote(entry + 100, "2", up=True, collection="guild-1") == "missing"
    # A 👍 has no reason; the 👎's reason went with the changed vote.
    assert not feedback.give_reason(entry, "1", "late reason", collection="guild-1")
    week = feedback.stats("guild-1")[0]
    assert (week.questions, week.up, week.down) == (1, 2, 0)


def test_feedback_log_off_stores_nothing(log_engine: Callable[..., Engine]) -> None:
    engine = log_engine(**{"log.questions": False})
    feedback = engine.feedback
    assert feedback.record("Who?", _answer(), collection="guild-1", latency_s=1.0) is None
    # Not even the collection's database is created for it.
    assert not DataDir(engine.settings.data_dir).collection("guild-1").exists()
    assert not _collection_exists(engine, "guild-1")
    assert feedback.vote(1, "1", up=True, collection="guild-1") == "off"
    # A server's own switch overrides the default, both ways.
    feedback.set_enabled("guild-2", True)
    assert feedback.record("Who?", _answer(), collection="guild-2", latency_s=1.0) == 1
    feedback.set_enabled("guild-2", False)
    assert feedback.record("Again?", _answer(), collection="guild-2", latency_s=1.0) is None
    assert feedback.count("guild-2") == 1


def test_feedback_cli_questions_are_logged_only_with_log_cli(
    log_engine: Callable[..., Engine]
) -> None:
    quiet = log_engine()
    assert quiet.feedback.record("Who?", _answer(), collection=None, latency_s=1.0,
                                 source="cli") is None
    logged = log_engine(**{"log.cli": True}, data_dir=quiet.settings.data_dir / "other")
    assert logged.feedback.record("Who?", _answer(), collection=None, latency_s=1.0,
                                  source="cli") == 1


def test_feedback_retention_purge_removes_old_entries_and_forget_erases(
    one_engine: Engine,
) -> None:
    feedback = one_engine.feedback
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    feedback.clock = lambda: start
    old = feedback.record("Old question?", _answer(abstained=True), collection="guild-1",
                          latency_s=1.0)
    assert old is not None and feedback.vote(old, "1", up=False, collection="guild-1")
    feedback.clock = lambda: start + timedelta(days=20)
    feedback.record("Newer question?", _answer(abstained=True), collection="guild-1",
                    latency_s=1.0)
    feedback.clock = lambda: start + timedelta(days=31)
    assert [g.question for g in feedback.unanswered("guild-1")] == ["Newer question?"]
    assert feedback.count("guild-1") == 1
    assert feedback.vote(old, "1", up=True, collection="guild-1") == "missing"
    assert _sql(one_engine, "SELECT count(*) FROM question_votes") == [(0,)]  # gone with it
    newer = feedback.record("Newest?", _answer(), collection="guild-1", latency_s=1.0)
    assert newer is not None and feedback.vote(newer, "1", up=True, collection="guild-1")
    assert feedback.forget("guild-1") == 2 and feedback.count("guild-1") == 0
    assert _sql(one_engine, "SELECT count(*) FROM question_votes") == [(0,)]
    assert feedback.unanswered("guild-1") == [] and feedback.stats("guild-1")[1].questions == 0


def test_feedback_retention_holds_without_an_admin_read_a_late_vote_and_with_the_log_off(
    one_engine: Engine,
) -> None:
    feedback = one_engine.feedback
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    feedback.clock = lambda: start
    old = feedback.record("Old question?", _answer(), collection="guild-1", latency_s=1.0)
    assert old is not None
    feedback.clock = lambda: start + timedelta(days=31)
    # Nobody read the log meanwhile: the expired entry is gone, not voted on.
    assert feedback.vote(old, "1", up=False, collection="guild-1") == "missing"
    assert _sql(one_engine, "SELECT count(*) FROM question_log") == [(0,)]
    kept = feedback.record("Kept question?", _answer(), collection="guild-1", latency_s=1.0)
    assert kept is not None
    feedback.set_enabled("guild-1", False)
    feedback.clock = lambda: start + timedelta(days=62)
    # The log is off (nothing new is written), yet the old entry still leaves on time.
    assert feedback.record("Unlogged?", _answer(), collection="guild-1", latency_s=1.0) is None
    assert _sql(one_engine, "SELECT count(*) FROM question_log") == [(0,)]


def test_unanswered_lists_abstained_and_thumbs_down_most_frequent_first(
    one_engine: Engine,
) -> None:
    feedback = one_engine.feedback
    for text in ("When does the ferry leave?", "when does the ferry  leave?",
                 "When does the ferry leave Mallaig?"):
        feedback.record(text, _answer("The articles I have don't cover that.", True),
                        collection="guild-1", latency_s=0.5)
    answered = feedback.record("Who is the harbour master?", _answer(), collection="guild-1",
                               latency_s=2.0)
    feedback.record("Who runs the bakery?", _answer(), collection="guild-1", latency_s=3.0)
    assert answered is not None
    feedback.vote(answered, "7", up=False, collection="guild-1")
    feedback.give_reason(answered, "7", "She retired last year", collection="guild-1")
    groups = feedback.unanswered("guild-1")
    assert [(g.count, g.abstained, g.down_votes) for g in groups] == [(3, 3, 0), (1, 0, 1)]
    assert groups[0].question == "when does the ferry  leave?"  # the newest of the commonest
    assert groups[0].wordings == ["When does the ferry leave Mallaig?"]
    assert groups[1].question == "Who is the harbour master?"
    assert groups[1].reasons == ["She retired last year"]
    # "Who runs the bakery?" was answered and not voted down: not listed.
    month = feedback.stats("guild-1")[1]
    assert (month.questions, month.answered, month.down, month.up) == (5, 2, 1, 0)
    assert month.p50_s == pytest.approx(0.5) and month.p95_s == pytest.approx(2.8)
    assert month.top_articles == [(TITLE, 2)]
    csv = feedback.export("guild-1")
    assert csv.splitlines()[0] == ("id,asked_at,source,question,answer,abstained,citations,"
                                   "latency_s,up,down,reasons")
    assert "Harbour News ¶1" in csv and "She retired last year" in csv and "voter" not in csv


def test_hosts_sharing_postgres_keep_one_log_and_one_vote_per_member(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    """Two engines with data directories of their own on one database, as two hosts are:
    one log per guild, and a member's click counts once whichever host takes it."""
    one = fast_engine(data_dir=tmp_path / "host-1", **PG)
    two = fast_engine(data_dir=tmp_path / "host-2", **PG)
    entry = one.feedback.record("Who?", _answer(), collection="guild-1", latency_s=1.0)
    assert entry is not None and two.feedback.count("guild-1") == 1
    assert two.feedback.vote(entry, "7", up=False, collection="guild-1") == "recorded"
    assert one.feedback.vote(entry, "7", up=False, collection="guild-1") == "unchanged"
    assert one.feedback.give_reason(entry, "7", "wrong", collection="guild-1")
    assert [g.reasons for g in two.feedback.unanswered("guild-1")] == [["wrong"]]
    assert two.feedback.vote(entry, "7", up=True, collection="guild-1") == "changed"
    assert one.feedback.vote(entry, "8", up=True, collection="guild-1") == "recorded"
    week = two.feedback.stats("guild-1")[0]
    assert (week.questions, week.up, week.down) == (1, 2, 0)
    assert not DataDir(tmp_path / "host-1").member_key.exists()
    assert not DataDir(tmp_path / "host-2").member_key.exists()
    # Another guild's log is its own, on every host; erasing on one host erases it for all.
    two.feedback.record("Elsewhere?", _answer(), collection="guild-2", latency_s=1.0)
    assert one.feedback.vote(entry, "9", up=True, collection="guild-2") == "missing"
    assert two.feedback.forget("guild-1") == 1 and one.feedback.count("guild-1") == 0
    assert one.feedback.count("guild-2") == 1


def test_hosts_starting_together_agree_on_one_voter_key(pg_url: str, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from retrieval.store.pgconnect import Database
    from retrieval.store.postgres import PostgresBackend

    hosts = [PostgresBackend(Database(pg_url, 1)) for _ in range(4)]  # a pool each
    try:
        with ThreadPoolExecutor(len(hosts)) as pool:
            keys = list(pool.map(lambda b: b.member_key(tmp_path / "member.key"), hosts))
    finally:
        for host in hosts:
            host.db.close()
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert not (tmp_path / "member.key").exists()


def test_one_members_clicks_on_several_hosts_at_once_count_once(pg_url: str,
                                                                 tmp_path: Path) -> None:
    """Each host its own pool: the entry's row lock lets one click record the vote and the
    others find it unchanged."""
    from concurrent.futures import ThreadPoolExecutor

    from retrieval.store.pgconnect import Database
    from retrieval.store.postgres import PostgresStore
    from retrieval.store.question_log import question_log

    dbs = [Database(pg_url, 1) for _ in range(6)]
    try:
        logs = [question_log(PostgresStore(db, "guild-1")) for db in dbs]
        entry = logs[0].add(asked_at="2026-12-07T10:00:00+00:00", source="discord",
                            question="Who?", answer="Her.", abstained=False, citations=[],
                            latency_s=1.0)
        with ThreadPoolExecutor(len(logs)) as pool:
            outcomes = list(pool.map(
                lambda log: log.vote(entry, "voter", -1, "2026-12-07T10:01:00+00:00"), logs))
        assert sorted(outcomes) == ["recorded"] + ["unchanged"] * (len(logs) - 1)
        [row] = logs[-1].rows()
        assert (row.up, row.down) == (0, 1)
    finally:
        for db in dbs:
            db.close()


def test_stats_percentiles_interpolate_and_grouping_is_greedy() -> None:
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    embed = HashingEmbedder()
    vectors = embed.embed(["ferry leave time", "ferry leave time today", "bakery bread"])
    assert group_by_meaning(vectors, [1, 2, 1], 0.7) == [[1, 0], [2]]
    assert group_by_meaning(np.zeros((0, 4)), [], 0.7) == []


@pytest.mark.models
def test_unanswered_groups_paraphrases_by_meaning_with_the_real_embedder(
    make_engine: Callable[..., Engine],
) -> None:
    """all-MiniLM-L6-v2 and ``log.group_similarity``: paraphrases join, neighbours do not.

    Measured here: paraphrases 0.73-0.92, different questions on the same article up to
    0.66. A rewording that shares few words ("In which city do the negotiations happen?"
    against "Where are the trade talks being held?", 0.59) stays a group of its own: the
    embedder does not tell it from "Who negotiates trade for China?" (0.58) either."""
    engine = make_engine()
    feedback = engine.feedback
    families = [
        ["Who is China's lead trade negotiator?", "Who negotiates trade for China?",
         "Which official leads China's trade negotiations?"],
        ["Where will the trade talks take place?", "Where are the trade talks being held?",
         "Where are the talks happening?"],
        ["What tariffs did the US impose on China?", "How high are the American tariffs on "
         "Chinese goods?"],
        ["Who is the US Treasury Secretary?"],
        ["When will the meeting happen?"],
    ]
    for family in families:
        for text in family:
            feedback.record(text, _answer("The articles I have don't cover that.", True),
                            collection="guild-1", latency_s=1.0)
    groups = feedback.unanswered("guild-1")
    found = sorted(sorted([g.question, *g.wordings]) for g in groups)
    assert found == sorted(sorted(f) for f in families), found


def test_feedback_export_neutralises_formulas_in_every_cell_titles_included() -> None:
    from retrieval.insight.figures import export_csv
    from retrieval.store.question_log import LogRow

    row = LogRow(1, "2025-01-01T00:00:00Z", "discord", "=1+1", "@SUM(A1)", False,
                 [(1, "=HYPERLINK(\"http://x\")", 0)], 0.5, 0, 1, ["+cmd"])
    cells = next(csv.reader(io.StringIO(export_csv([row]).splitlines()[1])))
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in cells), cells
