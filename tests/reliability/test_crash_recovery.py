"""kill -9 during ingestion: every article is whole or absent, indexes agree with SQLite."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from config import Settings
from retrieval.engine import Engine
from retrieval.models.cache import ModelCache

BBC = Path(__file__).resolve().parents[3] / "shared" / "eval" / "bbc-news" / "articles.jsonl"
ARTICLES = 160


def _write_articles(folder: Path) -> int:
    rows = [json.loads(line) for line in BBC.read_text().splitlines()]
    # The corpus repeats some stories and some titles; keep one of each so counts are exact
    # (a repeated title would be a replacement, which test_engine covers).
    rows = list({row["text"].strip(): row for row in rows}.values())
    rows = list({row["title"].strip().casefold(): row for row in rows}.values())
    random.Random(7).shuffle(rows)
    folder.mkdir()
    for i, row in enumerate(rows[:ARTICLES]):
        (folder / f"{i:04d}.txt").write_text(f"{row['title']}\n\n{row['text']}\n")
    return ARTICLES


def _start_ingest(folder: Path, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--data-dir", str(data_dir), "ingest", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "ARTICLEBOT_PRELOAD_SAMPLE": "false"})


def _kill_after_some_stored(process: subprocess.Popen[str], lines: int) -> int:
    assert process.stdout is not None
    seen = 0
    for line in process.stdout:
        seen += line.startswith("Stored ")
        if seen >= lines:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    return seen


def _check_consistent(engine: Engine) -> int:
    collection = engine.collection()
    store = collection.store
    articles = store.list_articles()
    chunk_total = 0
    for article in articles:
        chunks = store.chunks_of_article(article.id)
        assert chunks, f"{article.title} has no chunks"
        assert [c.seq for c in chunks] == list(range(len(chunks))), article.title
        chunk_total += len(chunks)
    assert store.chunk_count() == chunk_total
    import faiss

    faiss_ids = set(faiss.vector_to_array(collection.dense.index.id_map).tolist())
    sqlite_ids, _, _, _ = store.all_chunks()
    assert faiss_ids == set(sqlite_ids.tolist())
    assert collection.sparse.size == chunk_total
    assert np.array_equal(np.sort(collection.sparse.ids), np.sort(sqlite_ids))
    return len(articles)


@pytest.mark.slow
def test_kill_9_during_ingestion_leaves_whole_articles_and_a_rerun_adds_only_the_rest(
    tmp_path: Path, make_settings: Callable[..., Settings], model_cache: ModelCache
) -> None:
    if not BBC.exists():
        pytest.fail(f"{BBC} is missing: the reliability suite needs ../shared")
    folder = tmp_path / "bbc"
    total = _write_articles(folder)
    settings = make_settings(preload_sample=False)
    rng = random.Random(11)
    stored_before = 0
    for _ in range(3):
        process = _start_ingest(folder, settings.data_dir)
        _kill_after_some_stored(process, rng.randint(5, 30))
        engine = Engine(settings, models=model_cache)
        present = _check_consistent(engine)
        engine.close()
        assert present >= stored_before  # nothing committed is ever lost
        stored_before = present
    assert stored_before < total

    started = time.monotonic()
    finish = _start_ingest(folder, settings.data_dir)
    output, _ = finish.communicate(timeout=1800)
    assert finish.returncode == 0
    added, skipped = output.count("Stored "), output.count("Already stored")
    assert added + skipped == total
    assert skipped >= stored_before  # every article stored before the kills is kept as is
    engine = Engine(settings, models=model_cache)
    assert _check_consistent(engine) == stored_before + added
    answer_titles = {p.title for p in engine.search("Time Warner quarterly profits")}
    engine.close()
    assert answer_titles
    assert time.monotonic() - started < 1800
