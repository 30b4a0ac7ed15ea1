"""Training the extractive reader on SQuAD 2.0 dev, split by article.

``articlebot train-reader`` runs ``train``: all-MiniLM-L6-v2 from its package with a fresh
span head (start/end logits; the [CLS] position means "no answer"), word embeddings frozen.
Examples: every question of the training articles with its own paragraph (answerable: the
answer's first occurrence; unanswerable: no answer), plus answerable questions paired with
the most similar *other* paragraph of their article as "no answer" (what the reader meets
when search returns a near miss). Windows that hold no answer are thinned each epoch.
Seeded; checkpoints let a run resume after an interruption.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.answer.answerability import batch_tensors
from retrieval.answer.reader import Windowing, encode
from retrieval.errors import InputError


@dataclass(frozen=True)
class TrainingSettings:
    epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 1e-4
    warmup: float = 0.1
    weight_decay: float = 0.01
    keep_no_answer: float = 0.6  # share of no-answer windows drawn into each epoch
    negatives: float = 0.3  # share of answerable questions also read against another paragraph
    freeze_embeddings: bool = True
    frozen_layers: int = 0  # the lowest encoder layers kept as packaged (faster, fewer weights)
    held_out_articles: int = 7
    seed: int = 0
    windowing: Windowing = field(default_factory=Windowing)
    threads: int = 0  # 0: torch's default
    checkpoint_every: int = 100


@dataclass(frozen=True)
class Example:
    question: str
    context: str
    answer_start: int  # -1: no answer in this context
    answer: str
    article: str


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 3}


def split_articles(article_ids: Sequence[str], held_out: int, seed: int) -> tuple[list[str],
                                                                                 list[str]]:
    """(training, held-out) article ids: a fixed draw from the sorted ids."""
    ids = sorted(article_ids)
    random.Random(seed).shuffle(ids)
    return sorted(ids[held_out:]), sorted(ids[:held_out])


def build_examples(articles: dict[str, str], questions: Sequence[dict[str, Any]],
                   train_ids: set[str], negatives: float, seed: int) -> list[Example]:
    rng = random.Random(seed)
    examples: list[Example] = []
    for q in questions:
        if q["doc_id"] not in train_ids or q["paragraph"] < 0:
            continue
        paragraphs = articles[q["doc_id"]].split("\n\n")
        context = paragraphs[q["paragraph"]]
        if not q["answerable"]:
            examples.append(Example(q["question"], context, -1, "", q["doc_id"]))
            continue
        answer = next((a for a in q["answers"] if a in context), None)
        if answer is None:
            continue
        examples.append(Example(q["question"], context, context.index(answer), answer,
                                q["doc_id"]))
        if rng.random() < negatives:
            asked = _words(q["question"])
            others = [p for i, p in enumerate(paragraphs) if i != q["paragraph"]
                      and not any(a.lower() in p.lower() for a in q["answers"])]
            if others:
                hardest = max(others, key=lambda p: len(asked & _words(p)))
                examples.append(Example(q["question"], hardest, -1, "", q["doc_id"]))
    return examples


@dataclass
class Windows:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    starts: list[int]
    ends: list[int]

    def no_answer(self) -> np.ndarray:
        return np.array([s == 0 for s in self.starts])


def featurize(tokenizer: Any, examples: Sequence[Example], windowing: Windowing,
              chunk: int = 512) -> Windows:
    windows = Windows([], [], [], [])
    for b in range(0, len(examples), chunk):
        part = examples[b:b + chunk]
        feats = encode(tokenizer, [e.question for e in part], [e.context for e in part],
                       windowing)
        for w in range(len(feats["input_ids"])):
            ex = part[feats["overflow_to_sample_mapping"][w]]
            seq = feats.sequence_ids(w)
            offsets = feats["offset_mapping"][w]
            start = end = 0
            if ex.answer_start >= 0:
                a, z = ex.answer_start, ex.answer_start + len(ex.answer)
                ctx = [t for t, s in enumerate(seq) if s == 1]
                if offsets[ctx[0]][0] <= a and offsets[ctx[-1]][1] >= z:
                    start = next(t for t in ctx if offsets[t][1] > a)
                    end = next(t for t in reversed(ctx) if offsets[t][0] < z)
            windows.input_ids.append(feats["input_ids"][w])
            windows.token_type_ids.append(feats["token_type_ids"][w])
            windows.starts.append(start)
            windows.ends.append(end)
    return windows


def epoch_order(windows: Windows, keep_no_answer: float, seed: int, epoch: int,
                batch_size: int) -> list[int]:
    """This epoch's windows in batch order: every answer window, a fresh draw of the
    no-answer ones; batches of similar length (less padding: ~2x faster on a CPU), in a
    random order."""
    rng = np.random.default_rng([seed, epoch])
    no_answer = windows.no_answer()
    keep = ~no_answer | (rng.random(len(no_answer)) < keep_no_answer)
    order = np.flatnonzero(keep)
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for b in range(0, len(order), pool):
        part = sorted(order[b:b + pool], key=lambda i: len(windows.input_ids[i]))
        batches += [[int(i) for i in part[k:k + batch_size]]
                    for k in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return [i for batch in batches for i in batch]


def _batch(windows: Windows, rows: Sequence[int]) -> dict[str, Any]:
    import torch

    return {**batch_tensors([windows.input_ids[r] for r in rows],
                            [windows.token_type_ids[r] for r in rows]),
            "start_positions": torch.tensor([windows.starts[r] for r in rows]),
            "end_positions": torch.tensor([windows.ends[r] for r in rows])}


def start_run(out_dir: Path, article_ids: list[str], held_out: int, seed: int, threads: int
              ) -> tuple[list[str], list[str]]:
    """What every training run does first: torch's threads and seed, the run folder, and the
    (training, held-out) article split."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    return split_articles(article_ids, held_out, seed)


def trainable_state(model: Any) -> dict[str, Any]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


def load_base(base_path: str, freeze_embeddings: bool, frozen_layers: int = 0
              ) -> tuple[Any, Any]:
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialized: qa_outputs" is expected here
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = AutoModelForQuestionAnswering.from_pretrained(base_path)
    if freeze_embeddings:
        for p in model.bert.embeddings.parameters():
            p.requires_grad = False
    for layer in model.bert.encoder.layer[:frozen_layers]:
        for p in layer.parameters():
            p.requires_grad = False
    return model, tokenizer


Progress = Callable[[int, int, dict[str, float]], None]


def train(base_path: str, articles: dict[str, str], questions: Sequence[dict[str, Any]],
          out_dir: Path, settings: TrainingSettings,
          progress: Progress | None = None) -> dict[str, Any]:
    """Trains (or resumes) into ``out_dir``; returns the run's record."""
    import torch

    train_ids, held_out = start_run(out_dir, list(articles), settings.held_out_articles,
                                    settings.seed, settings.threads)
    examples = build_examples(articles, questions, set(train_ids), settings.negatives,
                              settings.seed)
    model, tokenizer = load_base(base_path, settings.freeze_embeddings,
                                 settings.frozen_layers)
    if not examples:
        raise InputError(f"No training examples: the {len(train_ids)} training articles "
                         "have no usable questions (check the data, or hold out fewer "
                         "articles).")
    windows = featurize(tokenizer, examples, settings.windowing)
    no_answer_share = float(windows.no_answer().mean())
    per_epoch = math.ceil(
        ((1 - no_answer_share) + no_answer_share * settings.keep_no_answer)
        * len(windows.starts) / settings.batch_size)
    total = max(1, round(per_epoch * settings.epochs))
    record = {"settings": _settings_json(settings), "train_articles": train_ids,
              "held_out_articles": held_out, "examples": len(examples),
              "windows": len(windows.starts), "no_answer_window_share": no_answer_share,
              "steps": total}
    (out_dir / "run.json").write_text(json.dumps(record, indent=1))
    step, seconds = fit(
        model, out_dir, total, settings.learning_rate, settings.weight_decay,
        settings.warmup, settings.checkpoint_every,
        lambda done: _batches(windows, settings, per_epoch, total, done),
        lambda rows: model(**_batch(windows, rows)).loss, progress)
    torch.save(trainable_state(model), out_dir / "trained.pt")
    record.update({"seconds": seconds, "steps_done": step})
    (out_dir / "run.json").write_text(json.dumps(record, indent=1))
    return record


def fit(model: Any, out_dir: Path, total: int, learning_rate: float, weight_decay: float,
        warmup: float, checkpoint_every: int, batches: Callable[[int], Iterator[list[int]]],
        loss_of: Callable[[list[int]], Any], progress: Progress | None) -> tuple[int, float]:
    """The training loop both trained models share: AdamW on the trainable parameters, a
    linear warm-up then decay, resumed from ``out_dir/checkpoint.pt`` when there is one; the
    loss logged to ``log.jsonl`` every 20 steps, a checkpoint every ``checkpoint_every``.
    ``batches(done)`` yields the rows of the steps after the first ``done``. Returns the steps
    done and the seconds they took (over every session of the run)."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    warm = max(1, int(total * warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    step, seconds = 0, 0.0
    checkpoint = out_dir / "checkpoint.pt"
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, seconds = state["step"], state["seconds"]
    model.train()
    running: list[float] = []
    with (out_dir / "log.jsonl").open("a") as log:
        for rows in batches(step):
            began = time.perf_counter()
            loss = loss_of(rows)
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            seconds += time.perf_counter() - began
            running.append(loss.item())
            if step % 20 == 0 or step == total:
                figures = {"loss": float(np.mean(running)),
                           "lr": float(scheduler.get_last_lr()[0]), "seconds": seconds}
                log.write(json.dumps({"step": step, **figures}) + "\n")
                log.flush()
                running = []
                if progress:
                    progress(step, total, figures)
            if step % checkpoint_every == 0 or step == total:
                _save_checkpoint(checkpoint, model, optimizer, scheduler, step, seconds)
    model.eval()
    return step, seconds


def _batches(windows: Windows, settings: TrainingSettings, per_epoch: int, total: int,
             done: int) -> Iterator[list[int]]:
    step = 0
    epoch = 0
    while step < total:
        order = epoch_order(windows, settings.keep_no_answer, settings.seed, epoch,
                            settings.batch_size)
        for b in range(0, per_epoch * settings.batch_size, settings.batch_size):
            rows = order[b:b + settings.batch_size]
            if not rows or step >= total:
                break
            if step >= done:
                yield rows
            step += 1
        epoch += 1


def _save_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any, step: int,
                     seconds: float) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save({"model": trainable_state(model), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "step": step, "seconds": seconds}, tmp)
    os.replace(tmp, path)


def _settings_json(settings: TrainingSettings) -> dict[str, Any]:
    return asdict(settings)
