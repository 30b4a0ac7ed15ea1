"""The one facade the CLI and the Discord bot use: ingest, list, remove, search, ask, summarize.

Built once at start-up; models load lazily on first use (or eagerly with ``warm_up``). Every
method is blocking and thread-safe: async callers run them in a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from config import Settings
from retrieval import summarize as summarizing
from retrieval.abstain import SupportGate, wordfreq_zipf
from retrieval.answering import Answerer
from retrieval.chunking import Chunk, chunk_paragraphs
from retrieval.collection import Collection, check_collection_name
from retrieval.cpu_features import resolve_weight_repacking
from retrieval.documents import ParsedDocument, parse_document, read_path
from retrieval.embedding import Embedder
from retrieval.errors import ArticlebotError, InputError, NotFoundError, StorageError
from retrieval.fetch import fetch_url
from retrieval.llm import (
    LLM,
    LlamaCppLLM,
    OpenAICompatibleLLM,
    TokenCallback,
    resolve_gguf,
)
from retrieval.questions import check_question
from retrieval.search import SearchParams, hybrid_search
from retrieval.types import Answer, ArticleInfo, IngestResult, Passage, Summary, Turn

log = logging.getLogger(__name__)

SAMPLE_NAME = "china-us-trade-talks.txt"


def sample_article_bytes() -> bytes:
    return resources.files("retrieval").joinpath("sample", SAMPLE_NAME).read_bytes()


def content_hash(document: ParsedDocument) -> str:
    return hashlib.sha256(document.text.encode()).hexdigest()


def build_llm(settings: Settings) -> LLM:
    cfg = settings.llm
    if cfg.backend == "openai":
        import os

        return OpenAICompatibleLLM(
            cfg.base_url, cfg.model, api_key=os.environ.get(cfg.api_key_env) or None,
            timeout_s=cfg.timeout_s, retries=cfg.retries, temperature=cfg.temperature,
            style=cfg.prompt_style,
        )
    path = resolve_gguf(cfg.model, settings.data_dir / "models")
    repack = resolve_weight_repacking(cfg.repack_weights)
    key = (str(path.resolve()), cfg.n_ctx, cfg.n_threads, cfg.n_gpu_layers, cfg.temperature,
           cfg.prompt_style, repack)
    with _SHARED_LOCK:
        # One in-process model per configuration: engines built by tests or eval share it.
        if key not in _SHARED_LLMS:
            _SHARED_LLMS[key] = LlamaCppLLM(
                path, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, n_gpu_layers=cfg.n_gpu_layers,
                temperature=cfg.temperature, style=cfg.prompt_style, repack_weights=repack)
        return _SHARED_LLMS[key]


_SHARED_LLMS: dict[tuple[object, ...], LlamaCppLLM] = {}
_SHARED_LOCK = threading.Lock()


class Engine:
    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 llm: LLM | None = None):
        self.settings = settings
        self.embedder = embedder or Embedder(
            settings.embedding.model, device=settings.embedding.device,
            batch_size=settings.embedding.batch_size)
        self._llm = llm
        self._gate: SupportGate | None = None
        # Open collections, least recently used first (see ``_evict_idle``).
        self._collections: OrderedDict[str, Collection] = OrderedDict()
        self._lock = threading.RLock()
        self.answerer = Answerer(settings, search=self.search, llm=lambda: self.llm,
                                 gate=lambda: self.gate)
        self._configure_faiss()

    def _configure_faiss(self) -> None:
        import faiss

        faiss.omp_set_num_threads(self.settings.search.faiss_threads)

    # -- life cycle ---------------------------------------------------------------------
    @property
    def llm(self) -> LLM:
        with self._lock:
            if self._llm is None:
                self._llm = build_llm(self.settings)
            return self._llm

    @property
    def gate(self) -> SupportGate:
        """The abstention decision (its word-frequency list loads on first use)."""
        with self._lock:
            if self._gate is None:
                cfg = self.settings.search
                self._gate = SupportGate(
                    wordfreq_zipf(), coverage_weight=cfg.coverage_weight,
                    name_weight=cfg.name_weight, min_support=cfg.min_support,
                    min_score=cfg.min_score)
            return self._gate

    def warm_up(self) -> None:
        """Load both models and open the default collection (the bot does this at start)."""
        self.embedder.load()
        self.llm.load()
        self.gate.weight("the")
        self.collection(self.settings.default_collection)

    def close(self) -> None:
        with self._lock:
            for collection in self._collections.values():
                collection.close()
            self._collections.clear()

    def collection(self, name: str | None = None) -> Collection:
        """The named collection, opened (and created on disk) if need be."""
        name = check_collection_name(name or self.settings.default_collection)
        with self._lock:
            found = self._collections.get(name)
            if found is None:
                directory = self.settings.data_dir / "collections" / name
                found = Collection(directory, name, self.embedder_dimension(),
                                   lock_timeout_s=self.settings.storage.lock_timeout_s)
                self._collections[name] = found
                if name == self.settings.default_collection:
                    self._preload_sample(found)
            self._collections.move_to_end(name)
            self._evict_idle()
            return found

    def _existing(self, name: str | None) -> Collection | None:
        """The collection if it exists; reading a server's empty knowledge (a member's
        /articles or autocomplete) must not create its files."""
        name = check_collection_name(name or self.settings.default_collection)
        directory = self.settings.data_dir / "collections" / name
        with self._lock:
            if name in self._collections or name == self.settings.default_collection or \
                    (directory / "store.sqlite3").is_file():
                return self.collection(name)
        return None

    def _evict_idle(self) -> None:
        """Close the least recently used collections beyond ``storage.max_open_collections``
        (each holds file descriptors and its indexes in memory). One still in use by a
        caller keeps working: it reopens what it needs."""
        limit = self.settings.storage.max_open_collections
        for name, candidate in list(self._collections.items()):
            if len(self._collections) <= limit:
                return
            if candidate.busy or name == self.settings.default_collection:
                continue
            candidate.close()
            del self._collections[name]
            log.debug("closed idle collection %s", name)

    def embedder_dimension(self) -> int:
        return self.embedder.dimension

    def _preload_sample(self, collection: Collection) -> None:
        if not self.settings.preload_sample or collection.store.get_meta("sample_loaded"):
            return
        document = parse_document(sample_article_bytes(), SAMPLE_NAME)
        try:
            self._store_document(collection, document, added_by="articlebot")
            collection.store.set_meta("sample_loaded", "1")
        except StorageError as exc:  # a read-only volume still serves what it has
            log.warning("could not preload the sample article: %s", exc)
            return
        log.info("preloaded the sample article into collection %s", collection.name)

    # -- ingestion ----------------------------------------------------------------------
    def ingest_bytes(self, data: bytes, name: str, *, collection: str | None = None,
                     title: str | None = None, added_by: str | None = None,
                     content_type: str | None = None, source: str | None = None
                     ) -> IngestResult:
        limits = self.settings.limits
        document = parse_document(data, name, title=title, content_type=content_type,
                                  max_bytes=limits.max_file_bytes,
                                  max_title_chars=limits.max_title_chars)
        if source:
            document = ParsedDocument(document.title, document.paragraphs, source)
        return self._store_document(self.collection(collection), document, added_by=added_by)

    def ingest_path(self, path: Path, *, collection: str | None = None,
                    title: str | None = None, added_by: str | None = None) -> IngestResult:
        document = self._read_document(path, title)
        return self._store_document(self.collection(collection), document, added_by=added_by)

    def ingest_url(self, url: str, *, collection: str | None = None, title: str | None = None,
                   added_by: str | None = None) -> IngestResult:
        limits = self.settings.limits
        fetched = fetch_url(url, timeout_s=limits.url_timeout_s, max_bytes=limits.max_file_bytes,
                            allow_private=limits.allow_private_urls)
        return self.ingest_bytes(fetched.data, fetched.name, collection=collection, title=title,
                                 added_by=added_by, content_type=fetched.content_type,
                                 source=fetched.url)

    def ingest_paths(self, paths: Sequence[Path], *, collection: str | None = None,
                     added_by: str | None = None,
                     on_result: Callable[[Path, IngestResult | ArticlebotError], None]
                     ) -> None:
        """Store many files; each result (or the user error) is passed to ``on_result``.

        Chunks of several articles are embedded together, in batches the size the embedder
        is fastest at, while every article is still committed in its own transaction.
        """
        target = self.collection(collection)
        pending: list[tuple[Path, ParsedDocument, list[Chunk], float]] = []
        threshold = 4 * self.settings.embedding.batch_size
        with target.batch():
            for path in paths:
                started = time.perf_counter()
                try:
                    document = self._read_document(path)
                    existing = target.store.article_by_hash(content_hash(document))
                    if existing is not None:
                        on_result(path, IngestResult(existing, "unchanged",
                                                     time.perf_counter() - started))
                        continue
                    pending.append((path, document, self._chunk(document), started))
                except ArticlebotError as exc:
                    on_result(path, exc)
                    continue
                if sum(len(chunks) for _, _, chunks, _ in pending) >= threshold:
                    self._store_pending(target, pending, added_by, on_result)
                    pending = []
            self._store_pending(target, pending, added_by, on_result)

    def _store_pending(self, target: Collection,
                       pending: list[tuple[Path, ParsedDocument, list[Chunk], float]],
                       added_by: str | None,
                       on_result: Callable[[Path, IngestResult | ArticlebotError], None]
                       ) -> None:
        if not pending:
            return
        texts = [self._embedding_text(d, c) for _, d, chunks, _ in pending for c in chunks]
        vectors = self.embedder.embed(texts)
        offset = 0
        for path, document, chunks, started in pending:
            own = vectors[offset : offset + len(chunks)]
            offset += len(chunks)
            try:
                on_result(path, self._commit(target, document, chunks, own, added_by, started))
            except ArticlebotError as exc:
                on_result(path, exc)

    def _read_document(self, path: Path, title: str | None = None) -> ParsedDocument:
        limits = self.settings.limits
        data = read_path(path, max_bytes=limits.max_file_bytes)
        document = parse_document(data, path.name, title=title, max_bytes=limits.max_file_bytes,
                                  max_title_chars=limits.max_title_chars)
        return ParsedDocument(document.title, document.paragraphs, str(path))

    def _chunk(self, document: ParsedDocument) -> list[Chunk]:
        chunks = chunk_paragraphs(document.paragraphs, self.embedder.count_tokens,
                                  max_tokens=self.settings.chunking.max_tokens,
                                  overlap_sentences=self.settings.chunking.overlap_sentences)
        if not chunks:
            raise InputError(f"{document.source} has no text to index.")
        return chunks

    def _embedding_text(self, document: ParsedDocument, chunk: Chunk) -> str:
        prefix = f"{document.title}\n" if self.settings.embedding.title_prefix else ""
        return prefix + chunk.text

    def _store_document(self, collection: Collection, document: ParsedDocument, *,
                        added_by: str | None) -> IngestResult:
        started = time.perf_counter()
        existing = collection.store.article_by_hash(content_hash(document))
        if existing is not None:
            return IngestResult(existing, "unchanged", time.perf_counter() - started)
        chunks = self._chunk(document)
        vectors = self.embedder.embed([self._embedding_text(document, c) for c in chunks])
        return self._commit(collection, document, chunks, vectors, added_by, started)

    def _commit(self, collection: Collection, document: ParsedDocument, chunks: list[Chunk],
                vectors: np.ndarray, added_by: str | None, started: float) -> IngestResult:
        digest = content_hash(document)
        collection.check_writable()
        with collection.writing():  # other threads and processes wait here
            existing = collection.store.article_by_hash(digest)  # a twin stored meanwhile
            if existing is not None:
                return IngestResult(existing, "unchanged", time.perf_counter() - started)
            replaced = collection.store.article_by_title(document.title) is not None
            info, added_ids, removed_ids = collection.store.put_article(
                title=document.title, source=document.source, content_hash=digest,
                text=document.text, chunks=chunks, vectors=vectors, added_by=added_by)
            collection.apply(added_ids, vectors, removed_ids)
        status: Literal["added", "replaced"] = "replaced" if replaced else "added"
        return IngestResult(info, status, time.perf_counter() - started)

    # -- articles -----------------------------------------------------------------------
    def list_articles(self, collection: str | None = None) -> list[ArticleInfo]:
        found = self._existing(collection)
        return [] if found is None else found.store.list_articles()

    def get_article(self, ref: str | int, collection: str | None = None) -> ArticleInfo:
        """An article by id or title (case-insensitive); NotFoundError otherwise."""
        text = str(ref).strip()
        found_collection = self._existing(collection)
        if found_collection is None:
            raise NotFoundError(f"No article {text!r} in this collection.")
        store = found_collection.store
        # ASCII digits only ("²" is a digit to Python) and within SQLite's integer range.
        numeric = text.isascii() and text.isdigit() and len(text) <= 18
        found = store.article_by_id(int(text)) if numeric else None
        found = found or store.article_by_title(text)
        if found is None:
            raise NotFoundError(f"No article {text!r} in this collection.")
        return found

    def remove(self, ref: str | int, collection: str | None = None) -> ArticleInfo:
        target = self._existing(collection)
        if target is None:
            raise NotFoundError(f"No article {str(ref).strip()!r} in this collection.")
        self.get_article(ref, collection)  # an unknown article is reported as such first
        target.check_writable()
        with target.writing():  # looked up again: another process may have removed it
            info = self.get_article(ref, collection)
            removed = target.store.delete_article(info.id)
            target.apply([], np.zeros((0, target.dimension), np.float32), removed)
        return info

    # -- search and answers -------------------------------------------------------------
    def _check_question(self, question: str) -> str:
        return check_question(question, self.settings.limits.max_question_chars)

    def search(self, query: str, *, collection: str | None = None, article: str | None = None,
               k: int | None = None) -> list[Passage]:
        query = self._check_question(query)
        existing = self._existing(collection)
        if existing is None:
            if article is not None and str(article).strip():
                self.get_article(article, collection)  # the same "no article" sentence
            return []
        target = existing
        allowed = self._allowed_chunks(target, article, collection)
        cfg = self.settings.search
        params = SearchParams(k or cfg.top_k, max(cfg.candidates, k or 0), cfg.fusion, cfg.rrf_k,
                              cfg.dense_weight)
        return hybrid_search(target, self.embedder.embed_query(query), query, params, allowed)

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
        key = summarizing.cache_key(self.settings, self.llm.name)
        stored = target.store.cached_summary(info.content_hash, length, key)
        points = None if stored is None else summarizing.decode(stored)
        cached = points is not None
        if points is None:
            paragraphs = target.store.article_text(info.id).split("\n\n")
            points = summarizing.summarize_article(self.llm, self.embedder.embed, self.settings,
                                                   info.title, paragraphs, length, on_token)
            try:
                target.store.save_summary(info.content_hash, length, key,
                                          summarizing.encode(points))
            except StorageError as exc:  # a full disk costs the cache, not the minutes of work
                log.warning("could not cache the summary of article %s: %s", info.id, exc)
        text = summarizing.render(points, length) or "This article has no text to summarise."
        if cached and on_token is not None:
            on_token(text)
        return Summary(info, text, length, cached, {"total_s": time.perf_counter() - started},
                       points)

