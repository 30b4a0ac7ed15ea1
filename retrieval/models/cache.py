"""Building the two models from the settings, and sharing them between Engines.

A ``ModelCache`` holds the models one process has loaded, keyed by everything that shapes
them. The CLI and the bot build one Engine and need nothing more (each Engine makes its own
cache by default); a process that builds several Engines over the same models (the test
session, an evaluation) builds one cache and passes it to each: ``Engine(settings,
models=cache)``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from config import Settings
from retrieval.llm import LLM, LlamaCppLLM, OpenAICompatibleLLM, resolve_gguf
from retrieval.llm.repacking import resolve_weight_repacking
from retrieval.models.embedder import Embedder
from retrieval.types import DataDir

LlamaKey = tuple[object, ...]
T = TypeVar("T")


def build_llm(settings: Settings, cache: ModelCache | None = None) -> LLM:
    """The configured model, new, or from ``cache`` for an in-process one loaded before."""
    cfg = settings.llm
    if cfg.backend == "openai":
        return OpenAICompatibleLLM(
            cfg.base_url, cfg.model, api_key=os.environ.get(cfg.api_key_env) or None,
            timeout_s=cfg.timeout_s, retries=cfg.retries, temperature=cfg.temperature,
            style=cfg.prompt_style,
        )
    path = resolve_gguf(cfg.model, DataDir(settings.data_dir).models)
    repack = resolve_weight_repacking(cfg.repack_weights)
    key = (str(path.resolve()), cfg.n_ctx, cfg.n_threads, cfg.n_gpu_layers, cfg.temperature,
           cfg.prompt_style, repack)

    def load() -> LlamaCppLLM:
        return LlamaCppLLM(
            path, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads, n_gpu_layers=cfg.n_gpu_layers,
            temperature=cfg.temperature, style=cfg.prompt_style, repack_weights=repack)

    return load() if cache is None else cache.llama(key, load)


def build_embedder(settings: Settings) -> Embedder:
    cfg = settings.embedding
    return Embedder(cfg.model, device=cfg.device, batch_size=cfg.batch_size)


class ModelCache:
    """One in-process model per configuration, loaded once however many Engines use it."""

    def __init__(self) -> None:
        self._llamas: dict[LlamaKey, LlamaCppLLM] = {}
        self._embedders: dict[tuple[str, str, int], Embedder] = {}
        self._shared: dict[tuple[object, ...], Any] = {}
        self._lock = threading.Lock()

    def llm(self, settings: Settings) -> LLM:
        return build_llm(settings, self)

    def llama(self, key: LlamaKey, load: Callable[[], LlamaCppLLM]) -> LlamaCppLLM:
        with self._lock:
            if key not in self._llamas:
                self._llamas[key] = load()
            return self._llamas[key]

    def shared(self, key: tuple[object, ...], load: Callable[[], T]) -> T:
        """Any other model (the trained reader), loaded once per ``key``."""
        with self._lock:
            if key not in self._shared:
                self._shared[key] = load()
            return cast(T, self._shared[key])

    def embedder(self, settings: Settings) -> Embedder:
        cfg = settings.embedding
        key = (cfg.model, cfg.device, cfg.batch_size)
        with self._lock:
            if key not in self._embedders:
                self._embedders[key] = build_embedder(settings)
            return self._embedders[key]
