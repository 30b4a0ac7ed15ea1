"""A full disk and a read-only volume on the fast tier (a real tmpfs, real SQLite): the
terminal shows answers and one-sentence errors only, a failed write probe leaves nothing
behind, a new collection on a read-only volume is "not writable", an empty read-only data
directory lists nothing, and a writer's un-checkpointed write-ahead log is read, not hidden."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config import Settings
from retrieval.engine import Engine
from retrieval.errors import StorageError

from .damage import HARBOUR, OPEN_GATE, Cli, answering_llm, store_file


@pytest.fixture()
def disk(tmp_path: Path) -> Iterator[Path]:
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


def _remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True)


def _fill(disk: Path) -> None:
    with open(disk / "filler", "wb", buffering=0) as handle:  # nothing left to flush
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


@pytest.fixture()
def make(fast_engine: Callable[..., Engine]) -> Callable[..., Engine]:
    return lambda **settings: fast_engine(llm=answering_llm(), **OPEN_GATE, **settings)


def test_a_full_disk_shows_answers_and_one_sentence_errors_only(
    disk: Path, make: Callable[..., Engine], fast_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    engine = make(data_dir=disk / "data")
    engine.ingest_bytes(HARBOUR, "harbour.txt")
    engine.close()
    # Index files out of date: every command rebuilds them, and cannot save them.
    shutil.rmtree(store_file(engine.settings, "default").parent / "index")
    _fill(disk)
    run = Cli(engine.settings, monkeypatch)
    code, out, err = run("list")
    assert code == 0 and "Harbour News" in out and err == ""
    code, out, err = run("ask", "How often does the ferry to Skye leave Mallaig?")
    assert code == 0 and out.startswith("every hour") and err == ""
    article = tmp_path / "more.txt"
    article.write_bytes(b"More News\n\n" + b"The harbour master said more. " * 2000)
    code, out, err = run("ingest", str(article))
    assert (code, err) == (1, "Error: The disk holding the data directory is full; nothing "
                              "was stored.\n")
    assert not list(disk.rglob(".write-probe-*"))  # the failed probe left nothing behind


def test_a_failed_write_probe_leaves_no_file(disk: Path, make: Callable[..., Engine]) -> None:
    engine = make(data_dir=disk / "data")
    collection = engine.collection()
    _fill(disk)
    with pytest.raises(StorageError, match="full"):
        collection.check_writable()
    assert not list(collection.directory.glob(".write-probe-*"))


def test_a_read_only_volume_lists_refuses_new_collections_and_reads_the_wal(
    disk: Path, make: Callable[..., Engine], fast_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    (disk / "empty").mkdir()
    # A writer still running (its log not checkpointed) when its files were copied here.
    writer = make(data_dir=tmp_path / "live")
    writer.list_articles()
    writer.close()
    writer = make(data_dir=tmp_path / "live")
    writer.ingest_bytes(HARBOUR, "harbour.txt")
    live = store_file(writer.settings, "default")
    assert Path(f"{live}-wal").stat().st_size > 0
    shutil.copytree(tmp_path / "live", disk / "data")
    _remount(disk, "ro")
    try:
        run_empty = Cli(fast_settings(data_dir=disk / "empty"), monkeypatch)
        assert run_empty("list") == (0, "No articles yet: add some with `articlebot ingest`.\n",
                                     "")
        run = Cli(make(data_dir=disk / "data").settings, monkeypatch)
        code, out, err = run("list")
        assert code == 0 and "Harbour News" in out, (out, err)  # immutable=1 hid it
        article = tmp_path / "new.txt"
        article.write_bytes(HARBOUR)
        assert run("ingest", str(article), "--collection", "new")[::2] == (
            1, "Error: The data directory is not writable; nothing was stored.\n")
        # A log whose index (-shm) is gone cannot be read on a read-only volume: said, not
        # silently skipped.
    finally:
        _remount(disk, "rw")
    Path(f"{disk / 'data' / 'collections' / 'default' / 'store.sqlite3'}-shm").unlink()
    _remount(disk, "ro")
    try:
        code, _, err = run("list")
        assert code == 1 and "write-ahead log that cannot be read" in err, err
    finally:
        _remount(disk, "rw")
