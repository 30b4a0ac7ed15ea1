"""Bounds and one-sentence refusals of the engine's collection management."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.errors import NotFoundError
from retrieval.store.collection import STORE_FILE
from retrieval.types import DataDir


@pytest.mark.parametrize("ref", ["99999999999999999999", "²", "٣", "9223372036854775808"])
def test_odd_article_numbers_are_one_sentence(engine: Engine, ref: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        engine.remove(ref)
    assert str(caught.value) == f"No article {ref!r} in this collection."


def _open_databases() -> int:
    fd_dir = Path("/proc/self/fd")
    count = 0
    for entry in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(entry).endswith(STORE_FILE):
                count += 1
    return count


def _article(n: int) -> bytes:
    return (f"Council Note {n}\n\nThe council of Brindle{n} voted to repair the old bridge "
            f"over the river before winter.").encode()


def test_idle_collections_are_closed_beyond_the_limit_and_reopen_when_used(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(preload_sample=False, storage={"max_open_collections": 2})
    before = _open_databases()
    for n in range(5):
        engine.ingest_bytes(_article(n), "note.txt", collection=f"guild-{n}")
    assert len(engine._collections) <= 2
    assert _open_databases() - before <= 2
    # An evicted server's knowledge is still there when it is next used.
    assert [a.title for a in engine.list_articles("guild-0")] == ["Council Note 0"]
    assert any(p.title == "Council Note 0"
               for p in engine.search("Brindle0 bridge repair", collection="guild-0"))
    assert len(engine._collections) <= 2


def test_reading_a_server_without_articles_creates_nothing_on_disk(engine: Engine) -> None:
    directory = DataDir(engine.settings.data_dir).collection("guild-77")
    assert engine.list_articles("guild-77") == []
    assert engine.search("Who won the vote?", collection="guild-77") == []
    assert engine.ask("Who won the vote?", collection="guild-77").abstained
    with pytest.raises(NotFoundError):
        engine.get_article("1", "guild-77")
    with pytest.raises(NotFoundError):
        engine.remove("1", "guild-77")
    with pytest.raises(NotFoundError):
        engine.ask("Who won?", collection="guild-77", article="Council Note")
    assert not directory.exists()
