"""Design (b) of the several-hosts store, measured and not kept: searching PostgreSQL itself.

The bot keeps FAISS and BM25 caches per collection on every host, keyed by the collection's
generation (``retrieval.store.collection``). The alternative is to ask the database: pgvector
for the dense candidates (``ORDER BY embedding <=> q``, exact, or through an HNSW index with
iterative scans) and PostgreSQL's full text search (``ts_rank`` over a stored ``tsvector`` of
title and text, GIN-indexed) for the lexical ones, fused as ``hybrid_search`` fuses, all in
one statement. ``bench --backend postgres`` times it beside the caches and
``python -m retrieval.evaluation.search_designs`` scores its retrieval (README, "Several
hosts"). The caches stay: from 10k chunks on this is 6–20 times slower, and it ranks
otherwise than SQLite does (its better news-qa hit@1 comes from the full-text half, a ranking
the caches could adopt on both backends), so this lives with the measurements only.

``DirectSearch`` never changes the bot's tables: it copies the chosen collections' chunks
into a schema of its own (``articlebot_bench_<hex>``), with the two columns and indexes the
design would add to ``articlebot.chunks``, on a connection of its own (its session settings
never reach the pool), and drops the schema when closed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from retrieval.search.hybrid import SearchParams, reciprocal_rank_fusion
from retrieval.store.pgconnect import Database, connect_sentence
from retrieval.types import Passage

_WORD = re.compile(r"[^\W_]+")
MAX_QUERY_WORDS = 32

_COPY = """INSERT INTO {table} (id, collection, article_id, title, paragraph, start, "end",
    text, embedding, tsv)
  SELECT c.id, c.collection, c.article_id, a.title, c.paragraph, c.start, c."end", c.text,
    c.embedding, to_tsvector('english', a.title || E'\\n' || c.text)
  FROM articlebot.chunks c JOIN articlebot.articles a ON a.id = c.article_id
  WHERE c.collection = ANY(%s) AND a.collection = c.collection"""

# The dense and the lexical candidates, then every candidate's exact cosine and rank, with
# the passage itself: one round trip.
_SEARCH = """WITH dense AS (
    SELECT id FROM {table} WHERE collection = %(c)s
    ORDER BY embedding <=> %(v)s LIMIT %(n)s),
  sparse AS (
    SELECT id, ts_rank(tsv, query) AS rank FROM {table}, to_tsquery('english', %(q)s) query
    WHERE collection = %(c)s AND {match} ORDER BY rank DESC LIMIT %(n)s)
  SELECT c.id, c.article_id, c.title, c.paragraph, c.start, c."end", c.text,
    1 - (c.embedding <=> %(v)s), s.rank, c.id IN (SELECT id FROM dense)
  FROM {table} c LEFT JOIN sparse s USING (id)
  WHERE c.collection = %(c)s AND c.id IN (SELECT id FROM dense UNION SELECT id FROM sparse)"""


def tsquery_text(question: str) -> str:
    """The question's words joined by ``|`` (any word may match, as in BM25); letters and
    digits only, so nothing in it is tsquery syntax."""
    words = list(dict.fromkeys(_WORD.findall(question.casefold())))[:MAX_QUERY_WORDS]
    return " | ".join(words)


class DirectSearch:
    """Hybrid search inside PostgreSQL over a scratch copy of ``collections``."""

    def __init__(self, db: Database, collections: Sequence[str], dimension: int):
        import psycopg
        from pgvector.psycopg.vector import register_vector_info
        from psycopg import sql
        from psycopg.types import TypeInfo

        try:
            self.conn = psycopg.connect(db.dsn, autocommit=True)
        except psycopg.Error as exc:
            raise connect_sentence(exc, db.dsn) from None
        register_vector_info(self.conn, TypeInfo.fetch(self.conn, "vector"))
        self.schema = f"articlebot_bench_{uuid.uuid4().hex[:10]}"
        self.table = sql.Identifier(self.schema, "chunks")
        self.hnsw = False
        try:
            self._create(list(collections), dimension)
        except BaseException:
            self.close()
            raise
        self._queries = {match: sql.SQL(_SEARCH).format(table=self.table, match=sql.SQL(match))
                         for match in ("tsv @@ query", "false")}

    def _create(self, collections: list[str], dimension: int) -> None:
        from psycopg import sql

        self.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
        self.conn.execute(sql.SQL(
            "CREATE TABLE {} (id bigint PRIMARY KEY, collection text NOT NULL, "
            "article_id bigint NOT NULL, title text NOT NULL, paragraph integer NOT NULL, "
            'start integer NOT NULL, "end" integer NOT NULL, text text NOT NULL, '
            "embedding vector({}) NOT NULL, tsv tsvector NOT NULL)"
        ).format(self.table, sql.Literal(dimension)))
        # In the row, not TOAST: a scan then reads one page per few rows, not three per row.
        self.conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN embedding SET STORAGE PLAIN")
                          .format(self.table))
        self.conn.execute(sql.SQL(_COPY).format(table=self.table), (collections,))
        self.conn.execute(sql.SQL("CREATE INDEX ON {} (collection)").format(self.table))
        self.conn.execute(sql.SQL("CREATE INDEX ON {} USING gin (tsv)").format(self.table))
        self.conn.execute(sql.SQL("ANALYZE {}").format(self.table))

    def add_hnsw(self) -> float:
        """Index the vectors with HNSW (pgvector's defaults: m 16, ef_construction 64) and
        let filtered scans go on until they found enough rows; returns the build's seconds."""
        from psycopg import sql

        started = time.perf_counter()
        self.conn.execute("SET maintenance_work_mem = '512MB'")  # the graph fits in memory
        self.conn.execute(sql.SQL("CREATE INDEX ON {} USING hnsw (embedding vector_cosine_ops)")
                          .format(self.table))
        self.conn.execute(sql.SQL("ANALYZE {}").format(self.table))
        self.conn.execute("SET hnsw.iterative_scan = strict_order")
        self.hnsw = True
        return time.perf_counter() - started

    def rows(self, collection: str, vector: np.ndarray, question: str, candidates: int
             ) -> list[tuple[Any, ...]]:
        """Every candidate: id, article id, title, paragraph, start, end, text, cosine,
        full-text rank (None when not a lexical candidate), whether a dense candidate."""
        words = tsquery_text(question)
        query = self._queries["tsv @@ query" if words else "false"]
        return list(self.conn.execute(query, {
            "c": collection, "v": np.asarray(vector, dtype=np.float32), "q": words,
            "n": candidates}).fetchall())

    def search(self, collection: str, vector: np.ndarray, question: str,
               params: SearchParams) -> list[Passage]:
        """The ``params.k`` best passages, fused as ``hybrid_search`` fuses."""
        rows = {int(r[0]): r for r in self.rows(collection, vector, question,
                                                params.candidates)}
        cosine = {i: float(r[7]) for i, r in rows.items()}
        rank = {i: float(r[8]) for i, r in rows.items() if r[8] is not None}
        if params.fusion == "rrf":
            dense = sorted((i for i, r in rows.items() if r[9]), key=lambda i: -cosine[i])
            lexical = sorted(rank, key=lambda i: -rank[i])
            fused = reciprocal_rank_fusion([np.asarray(dense), np.asarray(lexical)],
                                           params.rrf_k)
        else:
            top = max(rank.values(), default=0.0)
            fused = {i: params.dense_weight * cosine[i]
                     + (1 - params.dense_weight) * (rank.get(i, 0.0) / top if top else 0.0)
                     for i in rows}
        best = sorted(rows, key=lambda i: (-fused.get(i, 0.0), i))[:params.k]
        return [Passage(chunk_id=i, article_id=int(rows[i][1]), title=rows[i][2],
                        paragraph=rows[i][3], start=rows[i][4], end=rows[i][5],
                        text=rows[i][6], score=fused.get(i, 0.0), dense=cosine[i])
                for i in best]

    def close(self) -> None:
        """Drop the scratch schema and the connection."""
        from psycopg import sql

        try:
            if not self.conn.closed:
                self.conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                                  .format(sql.Identifier(self.schema)))
        finally:
            self.conn.close()

    def __enter__(self) -> DirectSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
