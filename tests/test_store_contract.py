"""The store contract, run against both backends: SQLite files and a real PostgreSQL with
pgvector (``postgres_fixture.py``). What a collection reads back, what a write returns, the
generation, atomic articles, the writers' lock, and one collection never seeing another's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval.store.backend import Backend, Store
from retrieval.store.collection import SqliteFiles
from retrieval.store.filelock import LockTimeout
from retrieval.types import ArticleInfo, Chunk

DIM = 8
OpenStore = Callable[[str], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "sqlite":
        return SqliteFiles()
    request.getfixturevalue("pg_url")
    from retrieval.store.postgres import postgres_backend

    return postgres_backend(pool_size=2)


@pytest.fixture()
def open_store(backend: Backend, tmp_path: Path) -> Iterator[OpenStore]:
    opened: list[Store] = []

    def build(name: str) -> Store:
        store = backend.open(tmp_path / name, name, lock_timeout_s=5.0, faults=None)
        opened.append(store)
        return store

    yield build
    for store in opened:
        store.close()


def _chunks(*texts: str) -> tuple[list[Chunk], np.ndarray]:
    chunks = [Chunk(seq=i, paragraph=i, start=10 * i, end=10 * i + len(t), text=t)
              for i, t in enumerate(texts)]
    rng = np.random.default_rng(len(texts))
    return chunks, rng.standard_normal((len(texts), DIM)).astype(np.float32)


def _put(store: Store, title: str, *texts: str, digest: str | None = None
         ) -> tuple[ArticleInfo, list[int], list[int]]:
    chunks, vectors = _chunks(*texts)
    return store.put_article(title=title, source=f"{title}.txt", content_hash=digest or title,
                             text="\n\n".join(texts), chunks=chunks, vectors=vectors,
                             added_by="tester")


def test_an_article_reads_back_whole(open_store: OpenStore) -> None:
    store = open_store("news")
    assert store.generation() == 0 and store.list_articles() == []
    chunks, vectors = _chunks("Etna erupted on Sunday.", "The airport closed.")
    info, ids, removed = store.put_article(
        title="Volcano Watch", source="volcano.txt", content_hash="h1",
        text="Etna erupted on Sunday.\n\nThe airport closed.", chunks=chunks, vectors=vectors,
        added_by="tester")
    assert removed == [] and len(ids) == 2 and ids == sorted(ids)
    assert (info.title, info.chunks, info.source, info.added_by, info.content_hash) == \
        ("Volcano Watch", 2, "volcano.txt", "tester", "h1")
    assert store.generation() == 1
    assert store.list_articles() == [info]
    assert store.article_by_id(info.id) == info == store.article_by_title("volcano  WATCH")
    assert store.article_by_ref(str(info.id)) == info == store.article_by_ref("volcano watch")
    assert store.article_by_hash("h1") == info and store.article_by_hash("h2") is None
    assert store.article_text(info.id).startswith("Etna erupted")
    stored = store.chunks_of_article(info.id)
    assert [c.text for c in stored] == ["Etna erupted on Sunday.", "The airport closed."]
    assert [(c.seq, c.paragraph, c.start, c.end) for c in stored] == \
        [(c.seq, c.paragraph, c.start, c.end) for c in chunks]
    assert store.chunk_ids_of_article(info.id) == ids
    assert set(store.chunks_by_ids(ids)) == set(ids)
    assert store.chunks_by_ids(ids)[ids[1]].title == "Volcano Watch"
    all_ids, all_vectors, texts, titles = store.all_chunks()
    assert all_ids.tolist() == ids and all_vectors.dtype == np.float32
    np.testing.assert_array_equal(all_vectors, vectors)
    assert titles == ["Volcano Watch"] * 2 and texts[1] == "The airport closed."
    assert store.chunk_ids().tolist() == ids and store.chunk_count() == 2
    text_ids, bm25_texts = store.chunk_texts()
    assert text_ids.tolist() == ids and bm25_texts[0] == "Volcano Watch\nEtna erupted on Sunday."


def test_replacing_and_deleting_return_the_chunks_they_removed(open_store: OpenStore) -> None:
    store = open_store("news")
    first, first_ids, _ = _put(store, "Volcano Watch", "one", "two")
    second, second_ids, removed = _put(store, "volcano watch", "three", digest="h2")
    assert removed == first_ids and min(second_ids) > max(first_ids)  # ids never reused
    assert store.article_by_id(first.id) is None
    assert [a.content_hash for a in store.list_articles()] == ["h2"]
    assert store.delete_article(second.id) == second_ids
    assert store.list_articles() == [] and store.chunk_count() == 0
    assert store.generation() == 3


def test_an_article_is_stored_whole_or_not_at_all(open_store: OpenStore) -> None:
    store = open_store("news")
    _put(store, "Kept", "kept text")
    chunks, vectors = _chunks("a", "b", "c")
    with pytest.raises(ValueError):  # fewer vectors than chunks: fails after the first rows
        store.put_article(title="Broken", source="x", content_hash="x", text="abc",
                          chunks=chunks, vectors=vectors[:2], added_by=None)
    assert [a.title for a in store.list_articles()] == ["Kept"]
    assert store.chunk_count() == 1 and store.generation() == 1


def test_meta_and_summaries_round_trip(open_store: OpenStore) -> None:
    store = open_store("news")
    assert store.get_meta("sample_loaded") is None
    store.set_meta("sample_loaded", "1")
    store.set_meta("sample_loaded", "2")
    assert store.get_meta("sample_loaded") == "2"
    assert store.cached_summary("h", "short", "m") is None
    store.save_summary("h", "short", "m", "first")
    store.save_summary("h", "short", "m", "second")
    assert store.cached_summary("h", "short", "m") == "second"
    assert store.cached_summary("h", "long", "m") is None
    assert store.generation() == 0  # neither touches the indexed chunks


def test_one_collection_never_sees_anothers(open_store: OpenStore) -> None:
    guild_a, guild_b = open_store("guild-a"), open_store("guild-b")
    info, ids, _ = _put(guild_a, "Secret Plans", "the plan is hidden", digest="same")
    guild_a.set_meta("sample_loaded", "1")
    guild_a.save_summary("same", "short", "m", "a's summary")
    assert guild_b.list_articles() == [] and guild_b.chunk_count() == 0
    assert guild_b.article_by_id(info.id) is None
    assert guild_b.article_by_ref(str(info.id)) is None
    assert guild_b.article_by_title("Secret Plans") is None
    assert guild_b.article_by_hash("same") is None
    assert guild_b.article_text(info.id) == ""
    assert guild_b.chunks_by_ids(ids) == {} and guild_b.chunks_of_article(info.id) == []
    assert guild_b.chunk_ids_of_article(info.id) == []
    assert len(guild_b.all_chunks()[0]) == 0 and len(guild_b.chunk_texts()[0]) == 0
    assert guild_b.get_meta("sample_loaded") is None
    assert guild_b.cached_summary("same", "short", "m") is None
    assert guild_b.delete_article(info.id) == []
    assert guild_b.generation() == 1 and guild_a.generation() == 1
    # The same title in B is B's own article; A keeps its own.
    _put(guild_b, "Secret Plans", "another text", digest="same")
    assert guild_a.chunks_of_article(info.id)[0].text == "the plan is hidden"


def test_the_writers_lock_excludes_other_writers_of_the_same_collection(
    backend: Backend, open_store: OpenStore, tmp_path: Path,
) -> None:
    open_store("news"), open_store("other")
    news, other = tmp_path / "news", tmp_path / "other"
    with backend.exclusive(news, "news", 5.0):
        with pytest.raises(LockTimeout), backend.exclusive(news, "news", 0.2):
            pass
        with backend.exclusive(other, "other", 0.2):
            pass
    with backend.exclusive(news, "news", 0.2):  # released
        pass


def test_a_collection_exists_once_opened(backend: Backend, open_store: OpenStore,
                                         tmp_path: Path) -> None:
    assert not backend.exists(tmp_path / "news", "news")
    open_store("news")
    assert backend.exists(tmp_path / "news", "news")


def test_every_statement_on_a_collections_rows_names_its_collection() -> None:
    """Guild isolation by construction: each SQL text in the PostgreSQL store and question
    log that reads or changes articles, chunks, meta, summaries, log entries or votes
    filters on (or sets) its collection."""
    import ast
    import re

    import retrieval.store.postgres as store_module
    import retrieval.store.question_log as log_module

    tenant_tables = re.compile(r"articlebot\.(articles|chunks|meta|summaries|question_log|"
                               r"question_votes)\b")
    counts = []
    for module in (store_module, log_module):
        tree = ast.parse(Path(str(module.__file__)).read_text())
        statements = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                      and isinstance(node.value, str)
                      and re.search(r"\b(SELECT|INSERT|UPDATE|DELETE)\b", node.value)]
        checked = [s for s in statements if tenant_tables.search(s)]
        counts.append(len(checked))
        for sql in checked:
            assert re.search(r"\bcollection\b", sql), sql
    assert counts[0] >= 15 and counts[1] >= 12, counts


def test_a_dropped_collection_is_gone_and_can_start_again(
    backend: Backend, open_store: OpenStore, tmp_path: Path,
) -> None:
    news, other = open_store("news"), open_store("other")
    _put(news, "Volcano Watch", "one", "two")
    news.save_summary("Volcano Watch", "short", "m", "s")
    _put(other, "Kept", "three")
    news.close()
    backend.drop(tmp_path / "news", "news", 5.0)
    assert not backend.exists(tmp_path / "news", "news")
    assert not (tmp_path / "news").exists()
    again = open_store("news")
    assert again.list_articles() == [] and again.chunk_count() == 0
    assert again.cached_summary("Volcano Watch", "short", "m") is None
    _put(again, "Volcano Watch", "one")  # writes work again
    if backend.name == "postgres":  # another host's store, opened before the drop
        backend.drop(tmp_path / "news", "news", 5.0)
        _put(again, "Ferry", "two")
        again.set_meta("sample_loaded", "1")
        again.save_summary("h", "short", "m", "s")
        assert [a.title for a in open_store("news").list_articles()] == ["Ferry"]
    assert [a.title for a in other.list_articles()] == ["Kept"] and other.chunk_count() == 1
