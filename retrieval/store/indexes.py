"""The rebuildable indexes of a collection: FAISS (dense) and BM25 (sparse).

Both are keyed by the chunk ids of SQLite. They are written atomically (temporary file, fsync,
``os.replace``) and described by a manifest naming the SQLite generation they reflect, so a
stale, truncated or missing index is detected on load and rebuilt from SQLite.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.text.words import TOKENIZER, bm25_tokens

log = logging.getLogger(__name__)


def _faiss() -> Any:
    """faiss, untyped: its SWIG stubs do not describe the numpy-friendly wrappers we call."""
    import faiss

    return faiss


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


class DenseIndex:
    """Inner-product FAISS index over unit vectors (= cosine), with stable int64 ids."""

    def __init__(self, dimension: int, index: Any = None):
        faiss = _faiss()

        self.dimension = dimension
        self.index = index if index is not None else faiss.IndexIDMap2(
            faiss.IndexFlatIP(dimension))
        self._id_set: frozenset[int] | None = None

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """The stored chunk ids, sorted."""
        return np.sort(_faiss().vector_to_array(self.index.id_map).astype(np.int64))

    def copy(self) -> DenseIndex:
        """An independent copy: writers change a copy while searches keep using this one."""
        return DenseIndex(self.dimension, _faiss().clone_index(self.index))

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._id_set = None
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32),
                np.asarray(ids, dtype=np.int64),
            )

    def remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            self._id_set = None
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids) for one query vector; ``allowed`` restricts the ids."""
        faiss = _faiss()

        if self.size == 0 or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed.astype(np.int64)))
        scores, ids = self.index.search(
            query.reshape(1, -1).astype(np.float32), min(k, self.size), params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def similarity(self, query: np.ndarray, ids: Sequence[int]) -> np.ndarray:
        """Exact cosine between ``query`` and the stored vectors of ``ids``; 0 for an id this
        index does not hold (a chunk added or removed by a write newer than this index)."""
        if not len(ids):
            return np.zeros(0, np.float32)
        if self._id_set is None:
            self._id_set = frozenset(int(i) for i in self.ids())
        held = self._id_set
        zero = np.zeros(self.dimension, np.float32)
        vectors = np.vstack([self.index.reconstruct(int(i)) if int(i) in held else zero
                             for i in ids])
        return np.asarray(vectors @ query.astype(np.float32), dtype=np.float32)

    def to_bytes(self) -> bytes:
        faiss = _faiss()

        return bytes(faiss.serialize_index(self.index))

    @classmethod
    def from_bytes(cls, data: bytes) -> DenseIndex:
        faiss = _faiss()

        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        return cls(int(index.d), index)


class SparseIndex:
    """BM25 (bm25s, Lucene variant) over chunk texts; rebuilt as a whole when chunks change."""

    def __init__(self, ids: np.ndarray, retriever: Any):
        self.ids = ids
        self.retriever = retriever
        self._position = {int(chunk_id): i for i, chunk_id in enumerate(ids)}

    @property
    def size(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, ids: np.ndarray, texts: Sequence[str]) -> SparseIndex:
        import bm25s

        retriever = bm25s.BM25()
        if len(texts):
            # An empty token list would break the index: give such chunks a placeholder word.
            corpus = [bm25_tokens(t) or ["\x00"] for t in texts]
            retriever.index(corpus, show_progress=False)
        return cls(np.asarray(ids, dtype=np.int64), retriever)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (aligned with ``self.ids``) for ``query``."""
        tokens = [t for t in bm25_tokens(query) if t in getattr(self.retriever, "vocab_dict", {})]
        if not tokens or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = self.scores(query)
        if allowed is not None:
            mask = np.zeros(self.size, dtype=bool)
            positions = [self._position[int(i)] for i in allowed if int(i) in self._position]
            mask[positions] = True
            scores = np.where(mask, scores, 0.0)
        k = min(k, int(np.count_nonzero(scores)))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return scores[top], self.ids[top]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self.size:
            self.retriever.save(str(directory))
        np.save(directory / "ids.npy", self.ids)
        for file in directory.iterdir():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(directory)

    @classmethod
    def load(cls, directory: Path) -> SparseIndex:
        import bm25s

        ids = np.load(directory / "ids.npy")
        retriever = bm25s.BM25.load(str(directory)) if len(ids) else bm25s.BM25()
        return cls(ids, retriever)


MANIFEST = "manifest.json"


def ids_digest(ids: np.ndarray) -> str:
    """A fingerprint of a set of chunk ids (order does not matter)."""
    return hashlib.sha256(np.sort(np.asarray(ids, dtype=np.int64)).tobytes()).hexdigest()


def save_indexes(directory: Path, generation: int, dense: DenseIndex, sparse: SparseIndex) -> None:
    """Write both indexes under new names, then switch the manifest to them atomically.

    The caller holds the collection's writer lock: the clean-up of older files then cannot
    remove files another process is writing or loading."""
    directory.mkdir(parents=True, exist_ok=True)
    dense_name, sparse_name = f"dense-{generation}.faiss", f"bm25-{generation}"
    atomic_write_bytes(directory / dense_name, dense.to_bytes())
    tmp_sparse = Path(tempfile.mkdtemp(dir=directory, prefix=".bm25-"))
    try:
        sparse.save(tmp_sparse)
        shutil.rmtree(directory / sparse_name, ignore_errors=True)
        os.replace(tmp_sparse, directory / sparse_name)
    except BaseException:
        shutil.rmtree(tmp_sparse, ignore_errors=True)
        raise
    manifest = {
        "generation": generation,
        "dense": dense_name,
        "sparse": sparse_name,
        "chunks": dense.size,
        "ids_sha256": ids_digest(dense.ids()),
        "tokenizer": TOKENIZER,
    }
    atomic_write_bytes(directory / MANIFEST, json.dumps(manifest).encode())
    _remove_stale(directory, keep={dense_name, sparse_name, MANIFEST})


def _remove_stale(directory: Path, keep: set[str]) -> None:
    for entry in directory.iterdir():
        if entry.name in keep:
            continue
        if entry.name.startswith(("dense-", "bm25-", ".dense-", ".bm25-", f".{MANIFEST}")):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def indexed_chunks(directory: Path) -> int | None:
    """How many chunks the saved index says the collection held: None when it says none (or
    there is no index), -1 when index files exist but the manifest cannot be read."""
    try:
        chunks = json.loads((directory / MANIFEST).read_text()).get("chunks")
    except FileNotFoundError:
        found = directory.is_dir() and any(
            entry.name.startswith(("dense-", "bm25-")) for entry in directory.iterdir())
        return -1 if found else None
    except (OSError, ValueError, AttributeError):
        return -1
    return chunks if isinstance(chunks, int) and chunks > 0 else None


def manifest_generation(directory: Path) -> int:
    """The SQLite generation the saved index reflects (0 without a readable manifest)."""
    try:
        generation = json.loads((directory / MANIFEST).read_text()).get("generation")
    except (OSError, ValueError, AttributeError):
        return 0
    return generation if isinstance(generation, int) else 0


def load_indexes(
    directory: Path, generation: int, chunk_ids: np.ndarray
) -> tuple[DenseIndex, SparseIndex] | str:
    """Load both indexes if they hold exactly SQLite's chunks (``chunk_ids``, sorted) at its
    generation; otherwise return why they must be rebuilt. The content is compared, not only
    the manifest's claims: a stale index stamped with a newer generation is refused."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return "no index files"
    except (OSError, ValueError) as exc:
        return f"unreadable index manifest ({exc})"
    if manifest.get("generation") != generation:
        return f"index generation {manifest.get('generation')} != database generation {generation}"
    if manifest.get("ids_sha256") != ids_digest(chunk_ids):
        return "index manifest lists other chunks than the database"
    if manifest.get("tokenizer") != TOKENIZER:
        return f"BM25 index of tokenizer {manifest.get('tokenizer')} != {TOKENIZER}"
    try:
        dense = DenseIndex.from_bytes((directory / manifest["dense"]).read_bytes())
        sparse = SparseIndex.load(directory / manifest["sparse"])
    except Exception as exc:  # truncated or missing files: faiss and numpy raise many types
        return f"unreadable index files ({type(exc).__name__}: {exc})"
    if not dense.size == sparse.size == len(chunk_ids):
        return (
            f"index counts (faiss {dense.size}, bm25 {sparse.size}) "
            f"!= database chunks ({len(chunk_ids)})"
        )
    if not (np.array_equal(dense.ids(), chunk_ids)
            and np.array_equal(np.sort(sparse.ids), chunk_ids)):
        return "index files hold other chunks than the database"
    return dense, sparse
