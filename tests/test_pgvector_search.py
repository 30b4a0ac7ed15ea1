"""Design (b) of the several-hosts store, searching PostgreSQL directly
(``retrieval.evaluation.pgvector_search``), and the comparison with the caches
(``search_designs``), on the test server (``postgres_fixture.py``): the same passages as the
caches on the same rows, the collection filter, nothing left behind."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import psycopg

from retrieval.engine import Engine
from retrieval.evaluation.datasets import EvalArticle, EvalQuestion
from retrieval.evaluation.pgvector_search import DirectSearch, tsquery_text
from retrieval.evaluation.search_designs import compare_designs
from retrieval.search.hybrid import SearchParams
from retrieval.store.postgres import postgres_backend

PG = {"storage.backend": "postgres", "preload_sample": False}


def leftovers(dsn: str) -> tuple[list[str], list[str], int]:
    """Collections, bench schemas and chunks left in the database."""
    with psycopg.connect(dsn) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM articlebot.collections")]
        schemas = [r[0] for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'articlebot_bench_%'")]
        chunks = conn.execute("SELECT count(*) FROM articlebot.chunks").fetchone()
    return names, schemas, int(chunks[0]) if chunks else -1


VOLCANO = ("Volcano Watch", "Mount Etna erupted on Sunday, sending ash four kilometres up.\n\n"
           "Catania airport closed for six hours while crews cleared the runway.")
HARBOUR = ("Harbour Report", "The harbour at Valletta reopened after the storm.\n\n"
           "Ferries to Gozo resumed their timetable on Monday morning.")


def _store(engine: Engine, collection: str, story: tuple[str, str]) -> None:
    engine.ingest_bytes(f"{story[0]}\n\n{story[1]}".encode(), "story.txt", collection=collection)


def test_searching_postgres_directly_finds_what_the_caches_find_within_one_collection(
    pg_url: str, fast_engine: Callable[..., Engine],
) -> None:
    engine = fast_engine(**PG)
    _store(engine, "g1", VOLCANO)
    _store(engine, "g2", HARBOUR)
    question = "Which airport closed after the eruption?"
    vector = engine.embedder.embed_query(question)
    params = SearchParams(k=3, candidates=10)
    cached = engine.search(question, collection="g1", k=3)
    with DirectSearch(postgres_backend(4).db, ["g1", "g2"], vector.shape[0]) as direct:
        found = direct.search("g1", vector, question, params)
        assert [p.chunk_id for p in found] == [p.chunk_id for p in cached]
        assert np.allclose([p.dense for p in found], [p.dense for p in cached], atol=1e-5)
        assert "Catania airport" in found[0].text
        assert {p.title for p in direct.search("g2", vector, question, params)} \
            == {"Harbour Report"}  # the collection filter: never g1's chunks
        direct.add_hnsw()
        assert [p.chunk_id for p in direct.search("g1", vector, question, params)] \
            == [p.chunk_id for p in found]
        assert direct.search("g3", vector, question, params) == []
        schema = direct.schema
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                            (schema,)).fetchone() is None


def test_a_question_never_becomes_tsquery_syntax() -> None:
    assert tsquery_text("Who's the CEO (of B&Q) | !now: 'x'*?") == \
        "who | s | the | ceo | of | b | q | now | x"
    assert tsquery_text("¿?!") == ""


def test_the_design_comparison_scores_both_designs_and_drops_its_collections(
    pg_url: str, fast_engine: Callable[..., Engine],
) -> None:
    engine = fast_engine(**PG)
    articles = [EvalArticle("v", *VOLCANO), EvalArticle("h", *HARBOUR)]
    questions = [
        EvalQuestion("q1", "v", "Which airport closed after Mount Etna erupted?",
                     ("Catania airport",), True, 1),
        EvalQuestion("q2", "h", "Where did the ferries resume their timetable?", ("Gozo",),
                     True, 1),
        EvalQuestion("q3", "h", "Who owns the harbour?", (), False, -1),
    ]
    for per_article in (True, False):
        report = compare_designs(engine, articles, questions, per_article=per_article)
        assert report["questions"] == 2 and report["collections"] == (2 if per_article else 1)
        for design in ("caches", "pgvector", "pgvector_hnsw"):
            assert report[design]["hit_at_10"] == 100.0
            assert 0 < report[design]["mrr"] <= 1 and report[design]["search_p50_ms"] > 0
    assert leftovers(pg_url) == ([], [], 0)
