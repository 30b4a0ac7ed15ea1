"""Disk full and read-only data dirs: one clear sentence, the previous state intact."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.errors import StorageError

BIG_ARTICLE = "Harvest Report\n\n" + "\n\n".join(
    f"Farmers in district {i} harvested {i * 7} tonnes of barley this week, the cooperative "
    f"said, after rain delayed the start of the season by {i % 9 + 1} days." for i in range(200))


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: a real file system that can fill up and be made read-only."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"needs root to mount a tmpfs: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(disk: Path) -> None:
    with open(disk / "filler", "wb", buffering=0) as handle:  # nothing left to flush
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass


def _state(engine: Engine) -> tuple[list[str], list[int]]:
    titles = [a.title for a in engine.list_articles()]
    hits = [p.chunk_id for p in engine.search("Who is China's lead trade negotiator?")]
    return titles, hits


def test_a_full_disk_refuses_ingestion_in_one_sentence_and_keeps_the_old_state(
    small_disk: Path, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(data_dir=small_disk / "data")
    before = _state(engine)
    _fill(small_disk)
    with pytest.raises(StorageError) as caught:
        engine.ingest_bytes(BIG_ARTICLE.encode(), "harvest.txt")
    assert str(caught.value) == "The disk holding the data directory is full; nothing was stored."
    assert _state(engine) == before
    (small_disk / "filler").unlink()
    engine.close()
    reopened = make_engine(data_dir=small_disk / "data")
    assert _state(reopened) == before
    assert reopened.ingest_bytes(BIG_ARTICLE.encode(), "harvest.txt").status == "added"


def test_a_read_only_data_dir_refuses_writes_in_one_sentence(
    small_disk: Path, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(data_dir=small_disk / "data")
    before = _state(engine)
    engine.close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(StorageError, match="not writable"):
            make_engine(data_dir=small_disk / "data").ingest_bytes(
                BIG_ARTICLE.encode(), "harvest.txt")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert _state(make_engine(data_dir=small_disk / "data")) == before


def test_a_full_disk_turns_every_store_write_into_one_sentence(
    small_disk: Path, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(data_dir=small_disk / "data")
    store = engine.collection().store
    _fill(small_disk)
    big = "x" * 2_000_000
    for write in (lambda: store.set_meta("note", big),
                  lambda: store.save_summary("h", "short", "m", big)):
        with pytest.raises(StorageError) as caught:
            write()
        assert str(caught.value) == (
            "The disk holding the data directory is full; nothing was stored.")


def test_a_summary_that_cannot_be_cached_is_still_returned(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine()
    store = engine.collection().store

    def full(*_args: object) -> None:
        raise StorageError("The disk holding the data directory is full; nothing was stored.")

    monkeypatch.setattr(store, "save_summary", full)
    summary = engine.summarize()
    assert "China" in summary.text and not summary.cached
    assert not engine.summarize().cached  # nothing was stored, and nothing was lost either
