"""Backups, checks and restores of the SQLite backend, on real database files: backup →
damage → restore → ask answers as before; ``check`` prints one line per collection; a
restore is refused while another process writes; a damaged database never replaces a good
backup."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.discordbot.schedule import back_up_on_schedule
from retrieval.engine import Engine
from retrieval.errors import StorageError
from retrieval.store import filelock
from retrieval.store.collection import LOCK_FILE

from .damage import HARBOUR, OPEN_GATE, Cli, answering_llm, damage, store_file

QUESTION = "Who is China's lead trade negotiator?"


@pytest.fixture()
def make(fast_engine: Callable[..., Engine]) -> Callable[..., Engine]:
    return lambda **settings: fast_engine(llm=answering_llm(), **OPEN_GATE, **settings)


def _answer(engine: Engine) -> tuple[str, list[tuple[str, int, str]]]:
    answer = engine.ask(QUESTION)
    return answer.text, [(c.title, c.paragraph, c.quote) for c in answer.citations]


def _spoil(path: Path, how: str) -> None:
    if how == "middle":
        damage(path)
    elif how == "header":
        with open(path, "r+b") as handle:
            handle.write(b"\0" * 100)  # "file is not a database": not even openable
    else:
        path.write_bytes(b"")


@pytest.mark.parametrize("how", ["middle", "header", "emptied"])
def test_backup_damage_restore_ask_answers_as_before(
    make: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    engine = make()
    before = _answer(engine)
    [result] = engine.backup()
    assert result.path is not None and result.path.is_file()
    engine.close()
    _spoil(store_file(engine.settings, "default"), how)

    serving = make()  # a bot still running meanwhile
    with pytest.raises(StorageError, match="articlebot restore default"):
        serving.ask(QUESTION)
    run = Cli(engine.settings, monkeypatch)
    code, out, err = run("restore", "default")
    assert (code, err) == (0, ""), err
    assert out == f"Restored collection default from {result.path} (1 article).\n"
    assert _answer(serving) == before  # the running process sees the restored database
    assert _answer(make()) == before  # and so does a new one
    assert run("check")[:2] == (0, f"default: ok (1 article; last backup {result.path.name})\n")


def test_a_restore_is_picked_up_by_a_process_that_has_the_collection_open(
    make: Callable[..., Engine]
) -> None:
    engine = make()
    assert engine.list_articles()  # the sample, preloaded
    engine.backup()
    added = engine.ingest_bytes(HARBOUR, "harbour.txt")
    assert len(engine.list_articles()) == 2
    other = make()
    other.restore("default")
    # The generation moved past anything seen: the open collection reloads its indexes.
    assert [a.title for a in engine.list_articles()] != [] and len(engine.list_articles()) == 1
    assert all(p.article_id != added.article.id for p in engine.search("ferry to Skye"))


def test_check_prints_one_line_per_collection_and_fails_on_a_damaged_one(
    make: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make()
    assert engine.list_articles()
    engine.ingest_bytes(HARBOUR, "harbour.txt", collection="harbour")
    engine.close()
    run = Cli(engine.settings, monkeypatch)
    assert run("check") == (0, "default: ok (1 article; last backup none)\n"
                               "harbour: ok (1 article; last backup none)\n", "")
    damage(store_file(engine.settings, "default"))
    code, out, err = run("check")
    assert code == 1 and err == "Error: 1 of 2 collections need attention.\n"
    damaged, healthy = out.splitlines()
    assert damaged.startswith("default: damaged (database disk image is malformed);")
    assert "`articlebot restore default`" in damaged
    assert healthy == "harbour: ok (1 article; last backup none)"


def test_a_restore_is_refused_while_a_writer_holds_the_collection(
    make: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make()
    assert engine.list_articles()
    engine.backup()
    engine.ingest_bytes(HARBOUR, "harbour.txt")
    path = store_file(engine.settings, "default")
    run = Cli(engine.settings, monkeypatch)
    with filelock.exclusive(path.parent / LOCK_FILE, timeout_s=1):
        code, out, err = run("restore", "default")
    assert (code, out) == (1, "")
    assert err == ("Error: Another process is writing to collection default; nothing was "
                   "restored. Try again when it has finished (or stop it first).\n")
    assert len(make().list_articles()) == 2  # untouched


def test_backups_keep_the_newest_skip_unchanged_and_never_copy_a_damaged_database(
    make: Callable[..., Engine]
) -> None:
    engine = make(**{"backup.keep": 2})
    assert engine.list_articles()
    first = engine.backup()[0].path
    assert engine.backup()[0].skipped == "unchanged since the last backup"
    kept = []
    for n in range(3):
        engine.ingest_bytes(HARBOUR + f"\nUpdate {n}.\n".encode(), "harbour.txt")
        kept.append(engine.backup()[0].path)
    assert engine.backups.of("default") == kept[1:] and first is not None and not first.exists()
    engine.ingest_bytes(b"Later\n\nSomething else happened on Tuesday in the harbour.\n", "l.txt")
    engine.close()
    damage(store_file(engine.settings, "default"))
    [result] = make().backup()
    assert result.path is None and result.skipped.startswith("no backup taken")
    assert engine.backups.of("default") == kept[1:]  # the good ones stay


def test_a_backup_on_a_schedule_runs_off_the_event_loop(make: Callable[..., Engine]) -> None:
    engine = make(**{"backup.interval_hours": 0.0001})

    async def briefly() -> None:
        task = asyncio.create_task(back_up_on_schedule(engine, engine.settings))
        for _ in range(100):
            await asyncio.sleep(0.05)  # the loop keeps turning while it copies
            if engine.backups.of("default"):
                break
        task.cancel()

    engine.list_articles()  # the default collection, with the sample
    asyncio.run(briefly())
    assert len(engine.backups.of("default")) == 1
