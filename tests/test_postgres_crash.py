"""kill -9 during a folder ingest into PostgreSQL: every article in the database is whole,
the writer's advisory lock is gone with it, another host's indexes agree with the database,
and a rerun adds only the rest. The ingest runs on the test doubles (no model load)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np

from retrieval.engine import Engine

TESTS = Path(__file__).resolve().parent
ARTICLES = 80

INGEST = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from fakes import HashingEmbedder, QueuedLLM
    from config import load_settings
    from retrieval.engine import Engine

    settings = load_settings(None, {{"data_dir": {data!r}, "storage.backend": "postgres",
                                     "preload_sample": False, "reader.model": "off",
                                     "embedding.batch_size": 4}})
    engine = Engine(settings, embedder=HashingEmbedder(), llm=QueuedLLM())
    paths = sorted(Path({folder!r}).iterdir())
    engine.ingest_paths(paths, on_result=lambda item, outcome: print(
        type(outcome).__name__, getattr(outcome, "status", outcome), flush=True))
""")


def _write_articles(folder: Path) -> None:
    folder.mkdir()
    for i in range(ARTICLES):
        paragraphs = [f"Report {i} paragraph {p}: the council of town {i} met on day {p} and "
                      f"voted {i * p} to {p} on the budget for bridge number {i + p}." * 3
                      for p in range(12)]
        (folder / f"{i:03d}.txt").write_text(f"Town {i} Council\n\n" + "\n\n".join(paragraphs))


def _ingest(folder: Path, data_dir: Path) -> subprocess.Popen[str]:
    script = INGEST.format(tests=str(TESTS), data=str(data_dir), folder=str(folder))
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=os.environ.copy())


def _check_whole(engine: Engine) -> int:
    collection = engine.collection()
    store = collection.store
    total = 0
    for article in store.list_articles():
        chunks = store.chunks_of_article(article.id)
        assert [c.seq for c in chunks] == list(range(article.chunks)) and chunks, article.title
        total += len(chunks)
    ids = store.all_chunks()[0]
    assert store.chunk_count() == total == len(ids)
    view = collection.view()
    assert view.dense.size == total and view.sparse.size == total
    assert np.array_equal(np.sort(view.sparse.ids), ids)
    return len(store.list_articles())


def test_kill_9_during_a_folder_ingest_leaves_whole_articles_and_a_rerun_adds_the_rest(
    pg_url: str, fast_engine: Callable[..., Engine], tmp_path: Path,
) -> None:
    folder = tmp_path / "articles"
    _write_articles(folder)
    writer = _ingest(folder, tmp_path / "host-a")
    assert writer.stdout is not None
    stored = 0
    for line in writer.stdout:
        stored += line.startswith("IngestResult added")
        if stored >= 10:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait()

    other = fast_engine(data_dir=tmp_path / "host-b", preload_sample=False,
                        **{"storage.backend": "postgres", "storage.lock_timeout_s": 5.0})
    kept = _check_whole(other)
    assert 10 <= kept < ARTICLES
    with other.collection().writing():  # the killed writer's lock went with its connection
        pass

    rerun = _ingest(folder, tmp_path / "host-a")
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0
    assert out.count("IngestResult unchanged") == kept
    assert out.count("IngestResult added") == ARTICLES - kept
    assert _check_whole(other) == ARTICLES
    assert other.search("bridge number 42 budget", k=1)[0].title == "Town 42 Council"
