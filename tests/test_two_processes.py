"""Two real processes on one data directory: `articlebot ingest` (a subprocess) while a
serving engine in this process uploads, removes and searches the same collection."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import retrieval
from retrieval.engine import Engine

ROOT = Path(retrieval.__file__).resolve().parents[1]  # the child runs the code under test
PLACES = ["Harbour", "Orchard", "Quarry", "Lighthouse", "Vineyard", "Observatory", "Brewery",
          "Tannery", "Foundry", "Mill", "Ferry", "Dam"]


def _article(place: str, code: str) -> str:
    return (f"{place} Dispatch {code}\n\n"
            f"The {place.lower()} near the village of {code} reopened on Monday after repairs "
            f"that lasted two winters, the council said.\n\n"
            f"Workers at the {place.lower()} in {code} asked for longer contracts; the mayor "
            f"promised a vote in the spring.")


def _titles(engine: Engine, query: str) -> set[str]:
    return {p.title for p in engine.search(query, k=5)}


def test_ingest_in_another_process_while_serving_keeps_the_collection_whole(
    make_engine: Callable[..., Engine], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    serving = make_engine(preload_sample=False)
    data_dir = serving.settings.data_dir
    serving.ingest_bytes(_article("Glacier", "Velmora").encode(), "glacier.txt")
    folder = tmp_path / "incoming"
    folder.mkdir()
    codes = {place: f"Zentor{i}x" for i, place in enumerate(PLACES)}
    for place, code in codes.items():
        (folder / f"{place.lower()}.txt").write_text(_article(place, code))

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "ARTICLEBOT_PRELOAD_SAMPLE": "false"}
    child = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--data-dir", str(data_dir), "ingest", str(folder)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rounds = 0
    try:
        # Write and read the same collection for as long as the other process works.
        while child.poll() is None or rounds < 3:
            serving.ingest_bytes(_article("Ferryman", f"Quillon{rounds}").encode(),
                                 "moving.txt", title="Moving Dispatch")
            assert "Glacier Dispatch Velmora" in _titles(serving, "Velmora glacier reopened")
            if rounds % 2:
                serving.remove("Moving Dispatch")
            rounds += 1
            if rounds > 400:
                break
        _out, err = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    if any(a.title == "Moving Dispatch" for a in serving.list_articles()):
        serving.remove("Moving Dispatch")

    # The serving process sees the other's articles without a restart.
    for place, code in codes.items():
        assert f"{place} Dispatch {code}" in _titles(serving, f"{code} {place.lower()}"), place
    serving.close()

    # A fresh open accepts the saved index files as they are, and they hold every chunk.
    with caplog.at_level(logging.WARNING, logger="retrieval.store.collection"):
        fresh = make_engine(data_dir=data_dir, preload_sample=False)
        collection = fresh.collection()
    assert not any("rebuilding" in r.getMessage() for r in caplog.records)
    ids = collection.store.chunk_ids()
    assert np.array_equal(collection.dense.ids(), ids)
    assert np.array_equal(np.sort(collection.sparse.ids), ids)
    for place, code in codes.items():
        assert f"{place} Dispatch {code}" in _titles(fresh, f"{code} {place.lower()}"), place
    # Nothing removed comes back.
    assert all(a.title != "Moving Dispatch" for a in fresh.list_articles())
    assert "Moving Dispatch" not in _titles(fresh, f"Quillon{rounds - 1} ferryman repairs")
