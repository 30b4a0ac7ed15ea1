"""SQLite is the source of truth; FAISS and BM25 files are checked on load and rebuilt."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.store.collection import INDEX_DIR
from retrieval.types import DataDir

ARTICLE = (
    "Glacier Report\n\n"
    "The Rhone glacier lost four metres of ice thickness last summer, researchers said.\n\n"
    "Volunteers cover parts of the glacier with white blankets to slow the melting."
)


def _index_dir(engine: Engine) -> Path:
    return DataDir(engine.settings.data_dir).collection("default") / INDEX_DIR


def _answer_passages(engine: Engine) -> list[int]:
    return [p.chunk_id for p in engine.search("How much ice did the Rhone glacier lose?")]


def test_index_files_are_written_with_a_manifest_matching_sqlite(engine: Engine) -> None:
    engine.ingest_bytes(ARTICLE.encode(), "glacier.txt")
    manifest = json.loads((_index_dir(engine) / "manifest.json").read_text())
    store = engine.collection().store
    assert manifest["generation"] == store.generation()
    assert manifest["chunks"] == store.chunk_count()
    assert (_index_dir(engine) / manifest["dense"]).is_file()


@pytest.mark.parametrize("damage", ["truncate_faiss", "delete_bm25", "stale_manifest",
                                    "other_tokenizer"])
def test_damaged_index_files_are_rebuilt_from_sqlite_with_the_same_results(
    make_engine: Callable[..., Engine], damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    engine.ingest_bytes(ARTICLE.encode(), "glacier.txt")
    before = _answer_passages(engine)
    engine.close()
    index = _index_dir(engine)
    manifest = json.loads((index / "manifest.json").read_text())
    if damage == "truncate_faiss":
        path = index / manifest["dense"]
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "delete_bm25":
        for file in (index / manifest["sparse"]).iterdir():
            file.unlink()
    elif damage == "other_tokenizer":  # BM25 built by an older word rule (stop words)
        manifest["tokenizer"] = "words-1"
        (index / "manifest.json").write_text(json.dumps(manifest))
    else:
        manifest["generation"] -= 1
        (index / "manifest.json").write_text(json.dumps(manifest))

    with caplog.at_level(logging.INFO, logger="retrieval.store.collection"):
        reopened = make_engine(data_dir=engine.settings.data_dir)
        after = _answer_passages(reopened)
    assert after == before
    assert any("rebuilding indexes" in r.getMessage() for r in caplog.records)


def test_a_crash_before_the_indexes_are_saved_is_repaired_on_the_next_start(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine()
    collection = engine.collection()
    # Simulate a kill between the SQLite commit and the index save.
    collection._save = lambda *_: None  # type: ignore[method-assign]
    engine.ingest_bytes(ARTICLE.encode(), "glacier.txt")
    reopened = make_engine(data_dir=engine.settings.data_dir)
    titles = {p.title for p in reopened.search("Rhone glacier ice thickness")}
    assert "Glacier Report" in titles
    assert reopened.collection().dense.size == reopened.collection().store.chunk_count()


def test_removed_articles_leave_no_vectors_or_bm25_entries(engine: Engine) -> None:
    result = engine.ingest_bytes(ARTICLE.encode(), "glacier.txt")
    engine.remove(str(result.article.id))
    collection = engine.collection()
    assert collection.dense.size == collection.store.chunk_count()
    assert collection.sparse.size == collection.store.chunk_count()
    assert all(p.title != "Glacier Report" for p in engine.search("Rhone glacier blankets"))
