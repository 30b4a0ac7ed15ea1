"""The one facade the CLI and the Discord bot use: ingest, list, remove, search, ask, summarize,
and the question log with its feedback (``Engine.feedback``).

Built once at start-up; models load lazily on first use (or eagerly with ``warm_up``). Every
method is blocking and thread-safe: async callers run them in a worker thread. The work is
done by one object per concern: ``OpenCollections``, ``Ingestion``, ``Answerer``,
``Summarizer``, ``Feedback``; the models come from a ``ModelCache``
(``retrieval.models.cache``), and the default
collection receives the bundled sample article when first opened (``retrieval.ingest.sample``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from config import Settings
from retrieval.answer.answerer import Answerer, Reader
from retrieval.answer.neighbours import Widened, as_found, widen
from retrieval.answer.trained_weights import load_span_reader
from retrieval.errors import InputError, NotFoundError, StorageError
from retrieval.ingest.pipeline import Ingestion, OnResult
from retrieval.ingest.sample import SAMPLE_NAME, SamplePreload, sample_article_bytes
from retrieval.insight.feedback import Feedback
from retrieval.llm import LLM, TokenCallback
from retrieval.models.cache import ModelCache
from retrieval.models.embedder import Embedder
from retrieval.questions import check_question
from retrieval.search.gate import SupportGate, wordfreq_zipf
from retrieval.search.hybrid import SearchParams, hybrid_search
from retrieval.store.backups import Backups
from retrieval.store.collection import Collection
from retrieval.store.open_collections import OpenCollections
from retrieval.store.turns import TurnStore
from retrieval.summary.summarizer import Summarizer
from retrieval.types import (
    Answer,
    ArticleInfo,
    BackupResult,
    CollectionCheck,
    DataDir,
    IngestResult,
    MigrationResult,
    Passage,
    Summary,
    Turn,
)

__all__ = ["SAMPLE_NAME", "Engine", "TurnStore", "sample_article_bytes"]

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 llm: LLM | None = None, models: ModelCache | None = None,
                 reader: Reader | None = None):
        """``models`` shares loaded models with other Engines (each gets its own cache
        otherwise); ``embedder``, ``llm`` and ``reader`` replace them outright (tests pass
        doubles)."""
        self.settings = settings
        self.models = models or ModelCache()
        self.embedder = embedder or self.models.embedder(settings)
        self._llm = llm
        self._reader = reader
        self._gate: SupportGate | None = None
        self._lock = threading.RLock()
        self.ingestion = Ingestion(settings, self.embedder, self.collection)
        self._collections = OpenCollections(settings, self.embedder_dimension,
                                            on_open=SamplePreload(self.ingestion))
        self.answerer = Answerer(settings, search=self.search, llm=lambda: self.llm,
                                 gate=lambda: self.gate, reader=lambda: self.reader,
                                 widen=self._reading_context)
        self.summarizer = Summarizer(settings, lambda: self.llm, self.embedder.embed)
        self.backups = Backups(settings)
        # The question log: what answers leave behind, votes, and the admins' views of it.
        self.feedback = Feedback(settings, collection=self.collection, existing=self._existing,
                                 embed=self.embedder.embed, member_key=self._member_key)
        self._configure_faiss()

    def _configure_faiss(self) -> None:
        import faiss

        faiss.omp_set_num_threads(self.settings.search.faiss_threads)

    # -- life cycle ---------------------------------------------------------------------
    @property
    def llm(self) -> LLM:
        with self._lock:
            if self._llm is None:
                self._llm = self.models.llm(self.settings)
            return self._llm

    @property
    def reader(self) -> Reader | None:
        """The trained reader (loaded on first use; None with ``reader.model = "off"``)."""
        with self._lock:
            if self._reader is None and self.settings.reader.model != "off":
                cfg = self.settings.reader
                self._reader = self.models.shared(
                    ("reader", cfg.model, cfg.max_answer_tokens, cfg.check,
                     cfg.check_weight, cfg.calibration),
                    lambda: load_span_reader(cfg.model, cfg.max_answer_tokens, cfg.check,
                                             cfg.check_weight, cfg.calibration))
            return self._reader

    @property
    def gate(self) -> SupportGate:
        """The abstention decision (its word-frequency list loads on first use)."""
        with self._lock:
            if self._gate is None:
                cfg = self.settings.search
                self._gate = SupportGate(
                    wordfreq_zipf(), coverage_weight=cfg.coverage_weight,
                    name_weight=cfg.name_weight, min_support=cfg.min_support,
                    min_score=cfg.min_score, cover_bonus=cfg.cover_bonus)
            return self._gate

    def warm_up(self) -> None:
        """Load both models and open the default collection (the bot does this at start).
        A damaged default collection does not stop the start: it stays that collection's
        problem, said in one sentence to whoever uses it (and logged once, with its path)."""
        self.embedder.load()
        self.llm.load()
        _ = self.reader
        self.gate.weight("the")
        try:
            self.collection(self.settings.default_collection)
        except StorageError as exc:
            log.warning("starting without the default collection: %s", exc)

    def close(self) -> None:
        self._collections.close()

    def collection(self, name: str | None = None) -> Collection:
        """The named collection, opened (and created on disk) if need be."""
        return self._collections.get(name)

    def drop_collection(self, name: str) -> None:
        """Delete a collection and everything in it, in whichever backend holds it."""
        self._collections.drop(name)

    def _existing(self, name: str | None) -> Collection | None:
        return self._collections.existing(name)

    def conversation_turns(self) -> TurnStore | None:
        """Where the Discord bot's follow-up memory persists, in the configured backend;
        None (logged) where it cannot be opened: follow-ups then last until a restart."""
        try:
            return self._collections.backend.turns(DataDir(self.settings.data_dir).memory)
        except StorageError as exc:
            log.warning("follow-up memory kept in process memory only: %s", exc)
            return None

    def _member_key(self) -> bytes:
        return self._collections.backend.member_key(DataDir(self.settings.data_dir).member_key)

    def embedder_dimension(self) -> int:
        return self.embedder.dimension

    # -- backups (SQLite) ----------------------------------------------------------------
    def _sqlite_only(self) -> None:
        if self.settings.storage.backend != "sqlite":
            raise InputError("The PostgreSQL store is checked, backed up and restored with "
                             "PostgreSQL's own tools (pg_dump, pg_restore).")

    def check(self) -> list[CollectionCheck]:
        """An integrity check of every collection on disk."""
        self._sqlite_only()
        return [self.backups.check(name) for name in self.backups.collections()]

    def backup(self, *, older_than_s: float = 0.0) -> list[BackupResult]:
        """Back up every collection that changed since its last backup."""
        self._sqlite_only()
        return self.backups.backup_all(older_than_s=older_than_s)

    def restore(self, collection: str, source: Path | None = None) -> Path:
        """Restore ``collection`` from a backup (default its newest); returns the file."""
        self._sqlite_only()
        self._collections.close_one(collection)
        return self.backups.restore(collection, source)

    def migrate(self, to: Literal["postgres"] = "postgres") -> list[MigrationResult]:
        """Copy this data directory's SQLite collections (articles, meta, summaries, question
        logs), the voters' key and the follow-up memory into PostgreSQL
        (``ARTICLEBOT_DATABASE_URL``); re-running it is harmless, and each result says whether
        the target holds everything."""
        from retrieval.store.migrate import migrate_to_postgres
        from retrieval.store.postgres import postgres_backend

        backend = postgres_backend(self.settings.storage.pool_size)
        return migrate_to_postgres(DataDir(self.settings.data_dir), self.backups.collections(),
                                   backend, self.settings.storage.lock_timeout_s)

    # -- ingestion ----------------------------------------------------------------------
    def ingest_bytes(self, data: bytes, name: str, *, collection: str | None = None,
                     title: str | None = None, added_by: str | None = None,
                     content_type: str | None = None, source: str | None = None
                     ) -> IngestResult:
        return self.ingestion.ingest_bytes(data, name, collection=collection, title=title,
                                           added_by=added_by, content_type=content_type,
                                           source=source)

    def ingest_path(self, path: Path, *, collection: str | None = None,
                    title: str | None = None, added_by: str | None = None) -> IngestResult:
        return self.ingestion.ingest_path(path, collection=collection, title=title,
                                          added_by=added_by)

    def ingest_url(self, url: str, *, collection: str | None = None, title: str | None = None,
                   added_by: str | None = None) -> IngestResult:
        return self.ingestion.ingest_url(url, collection=collection, title=title,
                                         added_by=added_by)

    def ingest_paths(self, paths: Sequence[Path], *, collection: str | None = None,
                     added_by: str | None = None, on_result: OnResult) -> None:
        """Store many files; each result (or the user error) is passed to ``on_result``."""
        self.ingestion.ingest_paths(paths, collection=collection, added_by=added_by,
                                    on_result=on_result)

    # -- articles -----------------------------------------------------------------------
    def list_articles(self, collection: str | None = None) -> list[ArticleInfo]:
        found = self._existing(collection)
        return [] if found is None else found.store.list_articles()

    def get_article(self, ref: str | int, collection: str | None = None) -> ArticleInfo:
        """An article by id or title (case-insensitive); NotFoundError otherwise."""
        text = str(ref).strip()
        target = self._existing(collection)
        found = None if target is None else target.store.article_by_ref(text)
        if found is None:
            raise NotFoundError(f"No article {text!r} in this collection.")
        return found

    def remove(self, ref: str | int, collection: str | None = None) -> ArticleInfo:
        target = self._existing(collection)
        if target is None:
            raise NotFoundError(f"No article {str(ref).strip()!r} in this collection.")
        self.get_article(ref, collection)  # an unknown article is reported as such first
        return target.remove_article(lambda: self.get_article(ref, collection))

    # -- search and answers -------------------------------------------------------------
    def search(self, query: str, *, collection: str | None = None, article: str | None = None,
               k: int | None = None) -> list[Passage]:
        query = check_question(query, self.settings.limits.max_question_chars)
        existing = self._existing(collection)
        if existing is None:
            if article is not None and str(article).strip():
                self.get_article(article, collection)  # the same "no article" sentence
            return []
        target = existing
        allowed = self._allowed_chunks(target, article, collection)
        cfg = self.settings.search
        params = SearchParams.from_settings(cfg, k)
        return hybrid_search(target, self.embedder.embed_query(query), query, params, allowed)

    def _reading_context(self, found: Sequence[Passage], collection: str | None) -> Widened:
        """What the reader reads: ``found`` widened by the paragraphs around each, up to
        ``reader.context_chars``, from the collection's chunks."""
        budget = self.settings.reader.context_chars
        existing = self._existing(collection) if budget and found else None
        if existing is None:
            return as_found(found)
        store = existing.store
        return widen(found, budget, store.chunks_of_article, store.article_text)

    def _allowed_chunks(self, target: Collection, article: str | None,
                        collection: str | None) -> np.ndarray | None:
        if article is None or not str(article).strip():
            return None
        info = self.get_article(article, collection)
        return np.asarray(target.store.chunk_ids_of_article(info.id), dtype=np.int64)

    def ask(self, question: str, *, collection: str | None = None, article: str | None = None,
            history: Sequence[Turn] = (), on_token: TokenCallback | None = None) -> Answer:
        return self.answerer.ask(question, collection=collection, article=article,
                                 history=history, on_token=on_token)

    # -- summaries ----------------------------------------------------------------------
    def summarize(self, article: str | None = None, *, collection: str | None = None,
                  length: Literal["short", "long"] = "short",
                  on_token: TokenCallback | None = None) -> Summary:
        started = time.perf_counter()
        if length not in ("short", "long"):
            raise InputError("Length must be short or long.")
        target = self.collection(collection)
        if article is None or not str(article).strip():
            articles = target.store.list_articles()
            if len(articles) != 1:
                raise InputError("Name the article to summarise (see the article list)."
                                 if articles else "There are no articles to summarise yet.")
            info = articles[0]
        else:
            info = self.get_article(article, collection)
        return self.summarizer.summarize(target, info, length, on_token, started)
