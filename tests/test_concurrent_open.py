"""Several processes opening one brand-new data directory at the same moment, as
``articlebot run`` shards, or ``articlebot ingest``/``ask`` started while the bot starts: none
fails, and the default collection receives the sample article exactly once.

Real SQLite, FAISS and file locks in real processes; the hashing embedder instead of the model,
so a round takes milliseconds and many rounds give the race many chances.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from contextlib import closing
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from config import load_settings
from retrieval.engine import SAMPLE_NAME, Engine
from retrieval.ingest.sample import SamplePreload
from retrieval.store import filelock
from retrieval.store.collection import LOCK_FILE, STORE_FILE, Collection
from retrieval.store.schema import SCHEMA, SCHEMA_VERSION
from retrieval.store.sqlite import Store

PROCESSES = 4
ROUNDS = 25
NOTE = b"Harbour News\n\nThe ferry to the island now leaves every hour, the harbour master said.\n"


def _fast_engine(data_dir: Path) -> Engine:
    from fakes import HashingEmbedder, QueuedLLM

    return Engine(load_settings(None, {"data_dir": data_dir}), embedder=HashingEmbedder(),
                  llm=QueuedLLM())


def _start_together(worker: int, data_dirs: list[Path], barrier: Barrier, results: Any) -> None:
    """In each round all processes open the same fresh data directory at once; worker 0
    uploads an article meanwhile, as ``articlebot ingest`` would."""
    for data_dir in data_dirs:
        barrier.wait(60)
        try:
            engine = _fast_engine(data_dir)
            try:
                if worker == 0:
                    engine.ingest_bytes(NOTE, "note.txt")
                engine.list_articles()
            finally:
                engine.close()
            results.put((worker, None))
        except Exception as exc:
            results.put((worker, f"{type(exc).__name__}: {exc}"))


def test_processes_opening_a_new_data_directory_at_once_never_fail_or_store_the_sample_twice(
    tmp_path: Path,
) -> None:
    data_dirs = [tmp_path / f"data{i}" for i in range(ROUNDS)]
    # Spawned, not forked: a forked child would inherit this process's FAISS thread pool.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [context.Process(target=_start_together, args=(i, data_dirs, barrier, results))
               for i in range(PROCESSES)]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=120) for _ in range(PROCESSES * ROUNDS)]
    finally:
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
    errors = [error for _, error in outcomes if error is not None]
    assert errors == [], f"{len(errors)} of {len(outcomes)} opens failed: {errors[:3]}"
    for data_dir in data_dirs:
        engine = _fast_engine(data_dir)
        try:
            sources = sorted(a.source for a in engine.list_articles())
        finally:
            engine.close()
        assert sources == sorted([SAMPLE_NAME, "note.txt"]), data_dir


def test_a_sample_removed_while_another_process_waited_to_preload_it_stays_removed(
    tmp_path: Path, fast_engine: Any
) -> None:
    serving = fast_engine(data_dir=tmp_path / "data", preload_sample=False)
    directory = serving.collection().directory  # the default collection exists, sample-less
    starting = fast_engine(data_dir=tmp_path / "data")  # preloads when it opens the collection
    late = Collection(directory, serving.settings.default_collection, 384)
    preload = SamplePreload(starting.ingestion)
    with filelock.exclusive(directory / LOCK_FILE, timeout_s=10):
        waiting = threading.Thread(target=preload, args=(late,))
        waiting.start()
        deadline = time.monotonic() + 10
        while not late.busy and time.monotonic() < deadline:
            time.sleep(0.01)  # until the preload waits for the writer lock
        assert late.busy
        # Meanwhile a third process preloaded the sample, and a member removed it.
        elsewhere = Store(directory / STORE_FILE)
        elsewhere.set_meta("sample_loaded", "1")
        elsewhere.close()
    waiting.join(30)
    late.close()
    assert all(a.source != SAMPLE_NAME for a in serving.list_articles())


def test_a_database_set_up_before_the_schema_version_was_recorded_keeps_its_articles(
    tmp_path: Path, fast_engine: Any
) -> None:
    engine = fast_engine(data_dir=tmp_path / "data", preload_sample=False)
    engine.ingest_bytes(NOTE, "note.txt")
    path = engine.collection().store.path
    engine.close()
    with closing(sqlite3.connect(path)) as db:  # as the releases before the version was recorded
        db.execute("PRAGMA user_version=0")
        db.executescript(SCHEMA)
    reopened = fast_engine(data_dir=tmp_path / "data", preload_sample=False)
    assert [a.title for a in reopened.list_articles()] == ["Harbour News"]
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
