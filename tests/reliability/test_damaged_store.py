"""A damaged, emptied or missing collection database: one sentence naming the collection and
the way back (``articlebot restore``), logged once with its path, nothing deleted, and every
other collection still answering. Real SQLite files, damaged on disk."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.errors import StorageError

from .damage import FERRY_QUESTION, HARBOUR, OPEN_GATE, Cli, answering_llm, damage, store_file

DAMAGED = ("The database of collection default is damaged, so nothing can be read from it or "
           "stored in it; the bot's operator can restore the last backup with "
           "`articlebot restore default`.")


@pytest.fixture()
def two_collections(fast_engine: Callable[..., Engine]) -> Engine:
    """The default collection (the sample article) and ``harbour``, both on disk, closed."""
    engine = fast_engine(llm=answering_llm(), **OPEN_GATE)
    assert engine.list_articles()  # the sample, preloaded
    engine.ingest_bytes(HARBOUR, "harbour.txt", collection="harbour")
    engine.close()
    return engine


def index_files(engine: Engine, collection: str) -> list[str]:
    index = store_file(engine.settings, collection).parent / "index"
    return sorted(str(p.relative_to(index)) for p in index.rglob("*"))


@pytest.fixture()
def article_file(tmp_path: Path) -> str:
    path = tmp_path / "harbour.txt"
    path.write_bytes(HARBOUR.replace(b"Harbour News", b"Harbour News, Updated"))
    return str(path)


def test_a_damaged_collection_is_one_sentence_in_the_cli_and_the_others_still_answer(
    two_collections: Engine, monkeypatch: pytest.MonkeyPatch, article_file: str
) -> None:
    damage(store_file(two_collections.settings, "default"))
    run = Cli(two_collections.settings, monkeypatch)
    for command in (["list"], ["ask", "Who is China's lead trade negotiator?"],
                    ["summary"], ["remove", "1"], ["ingest", article_file]):
        code, out, err = run(*command)
        assert code == 1, command
        assert err == f"Error: {DAMAGED}\n", (command, err)
        assert "Traceback" not in out + err
    code, out, err = run("ask", FERRY_QUESTION, "--collection", "harbour")
    assert (code, err) == (0, "") and out.startswith("every hour"), (out, err)
    code, out, _ = run("list", "--collection", "harbour")
    assert code == 0 and "Harbour News" in out


def test_a_damaged_collection_is_logged_once_with_its_path(
    two_collections: Engine, fast_engine: Callable[..., Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = store_file(two_collections.settings, "default")
    damage(path)
    engine = fast_engine(llm=answering_llm(), **OPEN_GATE)
    caplog.set_level(logging.INFO)
    for _ in range(3):
        with pytest.raises(StorageError) as caught:
            engine.search("Who is China's lead trade negotiator?")
        assert str(caught.value) == DAMAGED
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and str(path) in errors[0], errors
    assert engine.ask(FERRY_QUESTION, collection="harbour").text == "every hour"


def test_a_damaged_default_collection_does_not_stop_the_start(
    two_collections: Engine, fast_engine: Callable[..., Engine]
) -> None:
    damage(store_file(two_collections.settings, "default"))
    engine = fast_engine(llm=answering_llm(), **OPEN_GATE)
    engine.warm_up()  # what `articlebot run` does before it connects
    assert engine.ask(FERRY_QUESTION, collection="harbour").text == "every hour"
    with pytest.raises(StorageError, match="restore the last backup"):
        engine.list_articles()


@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_an_emptied_database_is_refused_and_its_index_kept(
    two_collections: Engine, fast_engine: Callable[..., Engine],
    monkeypatch: pytest.MonkeyPatch, article_file: str, how: str,
) -> None:
    path = store_file(two_collections.settings, "harbour")
    before = index_files(two_collections, "harbour")
    if how == "emptied":
        path.write_bytes(b"")
    else:
        path.unlink()
    sentence = ("The database of collection harbour is missing or empty although its index "
                "held 2 passages, so nothing was changed; the bot's operator can restore the "
                "last backup with `articlebot restore harbour`.")
    run = Cli(two_collections.settings, monkeypatch)
    for command in (["list", "--collection", "harbour"],
                    ["ask", FERRY_QUESTION, "--collection", "harbour"],
                    ["ingest", article_file, "--collection", "harbour"]):
        code, out, err = run(*command)
        assert (code, err) == (1, f"Error: {sentence}\n"), (command, out, err)
    assert index_files(two_collections, "harbour") == before  # the evidence is kept
    assert (path.stat().st_size == 0) if how == "emptied" else not path.exists()
    engine = fast_engine(llm=answering_llm(), **OPEN_GATE)
    assert engine.list_articles()  # the default collection is untouched


def test_an_empty_database_without_an_index_is_a_new_collection(
    fast_engine: Callable[..., Engine]
) -> None:
    engine = fast_engine(llm=answering_llm(), **OPEN_GATE)
    path = store_file(engine.settings, "fresh")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # e.g. touched by hand: nothing was ever indexed
    engine.ingest_bytes(HARBOUR, "harbour.txt", collection="fresh")
    assert [a.title for a in engine.list_articles("fresh")] == ["Harbour News"]
