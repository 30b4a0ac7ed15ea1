"""``articlebot calibrate-reader``: teach the reader's span scores to compare across passages.

The reader was trained one window at a time, each with its own softmax, so nothing tied the
level of its scores in one passage to another; at run time it compares raw scores across the
passages search returns, and a confident phrase in the wrong passage wins (about a sixth of
news-qa's answerable questions). Here each question is read against its own paragraph and the
most alike other paragraphs of its article, and one softmax runs over every window together
("shared normalization"): the gold span must beat every position of every passage, and for an
unanswerable question the "no answer" positions must. Only a low-rank adapter on the top
layer and the span head train (``retrieval.answer.adapter``), on the reader's own article
split.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from retrieval.answer.reader import Windowing, encode
from retrieval.answer.training import Progress, _words, fit, start_run
from retrieval.errors import InputError


@dataclass(frozen=True)
class CalibrationSettings:
    epochs: float = 0.25  # passes over the training questions
    questions_per_step: int = 4
    other_paragraphs: int = 2  # the most alike other paragraphs read with each question
    rank: int = 8
    alpha: float = 16.0
    learning_rate: float = 5e-4
    warmup: float = 0.1
    held_out_articles: int = 7
    seed: int = 0
    threads: int = 0
    checkpoint_every: int = 50


@dataclass(frozen=True)
class Group:
    """One question with the passages it is read against; the first is its own paragraph.
    ``answer``: character offsets in that paragraph, or None (unanswerable)."""

    question: str
    passages: tuple[str, ...]
    answer: tuple[int, int] | None


def build_groups(articles: dict[str, str], questions: Sequence[dict[str, Any]],
                 train_ids: set[str], others: int, seed: int) -> list[Group]:
    groups: list[Group] = []
    for q in questions:
        if q["doc_id"] not in train_ids or q["paragraph"] < 0:
            continue
        paragraphs = articles[q["doc_id"]].split("\n\n")
        own = paragraphs[q["paragraph"]]
        answer = None
        if q["answerable"]:
            text = next((a for a in q["answers"] if a in own), None)
            if text is None:
                continue
            answer = (own.index(text), own.index(text) + len(text))
        # An unanswerable question is read with the alike paragraphs too, all "no answer":
        # SQuAD 2.0 writes it against its own paragraph, and the others rarely answer it
        # (unchecked: the data gives no answer to look for).
        asked = _words(q["question"])
        alike = sorted((p for i, p in enumerate(paragraphs) if i != q["paragraph"]
                        and not any(a.lower() in p.lower() for a in q["answers"])),
                       key=lambda p: -len(asked & _words(p)))
        groups.append(Group(q["question"], (own, *alike[:others]), answer))
    random.Random(seed).shuffle(groups)
    return groups


def targets(features: Any, owners: Sequence[tuple[int, int]], groups: Sequence[Group]
            ) -> list[tuple[list[int], list[tuple[int, int]], list[tuple[int, int]],
                            list[tuple[int, list[int]]]]]:
    """Per group: its windows, the (window row, token) start and end targets, and each
    window's scored positions (its "no answer" token 0 and its passage tokens)."""
    out: list[tuple[list[int], list[tuple[int, int]], list[tuple[int, int]],
                    list[tuple[int, list[int]]]]] = []
    by_group: dict[int, list[int]] = {}
    for w, sample in enumerate(features["overflow_to_sample_mapping"]):
        by_group.setdefault(owners[sample][0], []).append(w)
    for g, group in enumerate(groups):
        windows = by_group.get(g, [])
        starts: list[tuple[int, int]] = []
        ends: list[tuple[int, int]] = []
        scored: list[tuple[int, list[int]]] = []
        for row, w in enumerate(windows):
            seq = features.sequence_ids(w)
            offsets = features["offset_mapping"][w]
            context = [t for t, s in enumerate(seq) if s == 1]
            scored.append((row, [0, *context]))
            own = owners[features["overflow_to_sample_mapping"][w]][1] == 0
            if group.answer is None:
                starts.append((row, 0))
                ends.append((row, 0))
            elif own and context:
                a, z = group.answer
                if offsets[context[0]][0] <= a and offsets[context[-1]][1] >= z:
                    starts.append((row, next(t for t in context if offsets[t][1] > a)))
                    ends.append((row, next(t for t in reversed(context)
                                           if offsets[t][0] < z)))
        out.append((windows, starts, ends, scored))
    return out


def shared_norm_loss(start: Any, end: Any, scored: Sequence[tuple[int, list[int]]],
                     starts: Sequence[tuple[int, int]], ends: Sequence[tuple[int, int]]) -> Any:
    """-log of the probability of the targets under one softmax over every scored position
    of every window (start and end separately, averaged). ``start``/``end``: [windows,
    tokens] logits of one group's windows."""
    import torch

    mask = torch.zeros_like(start, dtype=torch.bool)
    for row, tokens in scored:
        mask[row, tokens] = True

    def part(logits: Any, wanted: Sequence[tuple[int, int]]) -> Any:
        hit = torch.zeros_like(mask)
        for row, token in wanted:
            hit[row, token] = True
        return (torch.logsumexp(logits[mask], 0) - torch.logsumexp(logits[hit & mask], 0))

    return (part(start, starts) + part(end, ends)) / 2


def train_calibration(model: Any, tokenizer: Any, windowing: Windowing,
                      articles: dict[str, str], questions: Sequence[dict[str, Any]],
                      out_dir: Path, settings: CalibrationSettings,
                      progress: Progress | None = None) -> dict[str, Any]:
    """Trains (or resumes) the adapter on ``model`` (the loaded reader) into ``out_dir``;
    returns the run's record. The adapted tensors are in ``out_dir/trained.pt``."""
    import torch

    from retrieval.answer.adapter import adapter_tensors, add_adapter
    from retrieval.answer.answerability import batch_tensors

    train_ids, held_out = start_run(out_dir, list(articles), settings.held_out_articles,
                                    settings.seed, settings.threads)
    groups = build_groups(articles, questions, set(train_ids), settings.other_paragraphs,
                          settings.seed)
    if not groups:
        raise InputError(f"No training questions: the {len(train_ids)} training articles "
                         "have none with a paragraph (check the data).")
    maps = add_adapter(model, settings.rank, settings.alpha)
    per_epoch = -(-len(groups) // settings.questions_per_step)
    total = max(1, round(per_epoch * settings.epochs))
    record = {"settings": asdict(settings), "train_articles": train_ids,
              "held_out_articles": held_out, "questions": len(groups),
              "answerable": sum(g.answer is not None for g in groups), "steps": total}
    (out_dir / "run.json").write_text(json.dumps(record, indent=1))

    def batches(done: int) -> Iterator[list[int]]:
        n = settings.questions_per_step
        for step in range(done, total):
            yield [(step * n + i) % len(groups) for i in range(n)]

    def loss_of(rows: list[int]) -> Any:
        chosen = [groups[r] for r in rows]
        owners = [(g, k) for g, group in enumerate(chosen) for k in range(len(group.passages))]
        features = encode(tokenizer, [g.question for g in chosen for _ in g.passages],
                          [p for g in chosen for p in g.passages], windowing)
        out = model(**batch_tensors(features["input_ids"], features["token_type_ids"]))
        losses = []
        for windows, starts, ends, scored in targets(features, owners, chosen):
            if starts and ends:
                losses.append(shared_norm_loss(out.start_logits[windows],
                                               out.end_logits[windows], scored, starts, ends))
        if not losses:  # no window held a target (every answer cut off): a step of nothing
            return out.start_logits.sum() * 0.0
        return torch.stack(losses).mean()

    step, seconds = fit(model, out_dir, total, settings.learning_rate, 0.0, settings.warmup,
                        settings.checkpoint_every, batches, loss_of, progress)
    torch.save(adapter_tensors(model, maps), out_dir / "trained.pt")
    record.update({"seconds": seconds, "steps_done": step})
    (out_dir / "run.json").write_text(json.dumps(record, indent=1))
    return record
