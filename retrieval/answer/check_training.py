"""Training the answerability check: does this sentence answer this question?

The reader's joint "no answer" score barely separates on-topic questions an article does not
answer from those it does (its no-answer logit hardly moves with the passage). This second,
small model reads the question with one sentence, the sentence holding the reader's best
span, and says whether that sentence answers it.

It is the reader's own encoder (embeddings and lower layers shared, frozen) with a copy of
its top layer trained again and a one-logit head on the [CLS] token (the packaged pooler,
frozen): only that layer and the head ship, a few MB. Examples come from SQuAD 2.0 dev's
training articles, the reader's split, at the sentence level:

* positive: an answerable question with the sentence that holds its answer;
* negatives: the same question with the other sentence of its paragraph most like it, and
  with the most similar sentence of another paragraph (what search returns as a near miss);
* negatives: an unanswerable question with the sentences of its paragraph most like it
  (SQuAD 2.0 writes these questions to look answerable from exactly those sentences).
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.answer.answerability import batch_tensors, mark_span
from retrieval.answer.training import Progress, _words, fit, start_run
from retrieval.errors import InputError
from retrieval.text.sentences import split_sentences


@dataclass(frozen=True)
class CheckSettings:
    epochs: float = 2.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup: float = 0.1
    weight_decay: float = 0.01
    same_paragraph: float = 1.0  # share of answerable questions with a hard same-paragraph negative
    other_paragraph: float = 0.5  # ... with the most similar sentence of another paragraph
    unanswerable_sentences: int = 2  # negatives per unanswerable question
    trained_layers: int = 1  # the encoder's top layers trained (and shipped)
    level: str = "sentence"  # "span": the reader's spans marked in their sentences
    max_length: int = 128
    held_out_articles: int = 7  # the reader's split: the same seed and count
    seed: int = 0
    threads: int = 0
    checkpoint_every: int = 100


@dataclass(frozen=True)
class Pair:
    question: str
    sentence: str
    label: int  # 1: the sentence answers the question
    article: str
    kind: str  # answer | same_paragraph | other_paragraph | unanswerable


def _sentences(paragraph: str) -> list[str]:
    return [paragraph[s:e].strip() for s, e in split_sentences(paragraph) or [(0, len(paragraph))]
            if paragraph[s:e].strip()]


def _answer_sentence(paragraph: str, answer: str) -> str | None:
    at = paragraph.find(answer)
    if at < 0:
        return None
    for s, e in split_sentences(paragraph) or [(0, len(paragraph))]:
        if s <= at < e:
            return paragraph[s:max(e, at + len(answer))].strip()
    return None


def _most_like(question: str, sentences: Sequence[str], n: int) -> list[str]:
    asked = _words(question)
    ranked = sorted(sentences, key=lambda s: -len(asked & _words(s)))
    return ranked[:n]


def build_pairs(articles: dict[str, str], questions: Sequence[dict[str, Any]],
                article_ids: set[str], settings: CheckSettings) -> list[Pair]:
    rng = random.Random(settings.seed)
    pairs: list[Pair] = []
    for q in questions:
        doc = q["doc_id"]
        if doc not in article_ids or q["paragraph"] < 0:
            continue
        paragraphs = articles[doc].split("\n\n")
        paragraph = paragraphs[q["paragraph"]]
        sentences = _sentences(paragraph)
        if not q["answerable"]:
            for sentence in _most_like(q["question"], sentences,
                                       settings.unanswerable_sentences):
                pairs.append(Pair(q["question"], sentence, 0, doc, "unanswerable"))
            continue
        answers = [a for a in q["answers"] if a]
        found = next((a for a in answers if a in paragraph), None)
        positive = _answer_sentence(paragraph, found) if found else None
        if positive is None:
            continue
        pairs.append(Pair(q["question"], positive, 1, doc, "answer"))

        def clean(s: str, answers: Sequence[str] = answers) -> bool:
            return not any(a.lower() in s.lower() for a in answers)

        if rng.random() < settings.same_paragraph:
            others = [s for s in sentences if s != positive and clean(s)]
            for sentence in _most_like(q["question"], others, 1):
                pairs.append(Pair(q["question"], sentence, 0, doc, "same_paragraph"))
        if rng.random() < settings.other_paragraph:
            elsewhere = [s for i, p in enumerate(paragraphs) if i != q["paragraph"]
                         for s in _sentences(p) if clean(s)]
            for sentence in _most_like(q["question"], elsewhere, 1):
                pairs.append(Pair(q["question"], sentence, 0, doc, "other_paragraph"))
    return pairs


Judge = Callable[[str, Sequence[str]], bool]


def build_span_pairs(reader: Any, articles: dict[str, str],
                     questions: Sequence[dict[str, Any]], article_ids: set[str],
                     settings: CheckSettings, judge: Judge, batch: int = 32) -> list[Pair]:
    """Span-level pairs from the reader's own top spans on the training paragraphs: a span
    is positive when it matches a gold answer, negative otherwise; every span of
    an unanswerable question, and the best span read from the most similar other
    paragraph, are negatives. ``judge(span, answers)`` says whether a span matches."""
    rng = random.Random(settings.seed)
    chosen = [q for q in questions if q["doc_id"] in article_ids and q["paragraph"] >= 0]
    own: list[tuple[dict[str, Any], str]] = []
    elsewhere: list[tuple[dict[str, Any], str]] = []
    for q in chosen:
        paragraphs = articles[q["doc_id"]].split("\n\n")
        own.append((q, paragraphs[q["paragraph"]]))
        answers = [a for a in q["answers"] if a]
        if answers and rng.random() < settings.other_paragraph:
            asked = _words(q["question"])
            others = [p for i, p in enumerate(paragraphs) if i != q["paragraph"]
                      and not any(a.lower() in p.lower() for a in answers)]
            if others:
                elsewhere.append((q, max(others, key=lambda p: len(asked & _words(p)))))
    pairs: list[Pair] = []
    for b in range(0, len(own), batch):
        part = own[b:b + batch]
        for (q, paragraph), reading in zip(part, reader.read_many(
                [(q["question"], [paragraph]) for q, paragraph in part], top_n=3)):
            answers = [a for a in q["answers"] if a]
            for span in reading.spans[:3 if answers else settings.unanswerable_sentences]:
                good = bool(answers) and judge(span.text, answers)
                kind = "answer" if good else ("same_paragraph" if answers else "unanswerable")
                pairs.append(Pair(q["question"], mark_span(paragraph, span.start, span.end),
                                  int(good), q["doc_id"], kind))
    for b in range(0, len(elsewhere), batch):
        part = elsewhere[b:b + batch]
        for (q, paragraph), reading in zip(part, reader.read_many(
                [(q["question"], [paragraph]) for q, paragraph in part], top_n=1)):
            pairs.extend(Pair(q["question"], mark_span(paragraph, s.start, s.end), 0,
                              q["doc_id"], "other_paragraph") for s in reading.spans)
    return pairs


@dataclass
class Encoded:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: list[int]


def encode_pairs(tokenizer: Any, pairs: Sequence[Pair], max_length: int) -> Encoded:
    feats = tokenizer([p.question for p in pairs], [p.sentence for p in pairs],
                      truncation="longest_first", max_length=max_length, padding=False)
    return Encoded(feats["input_ids"], feats["token_type_ids"], [p.label for p in pairs])


def _check_batches(encoded: Encoded, settings: CheckSettings, total: int, done: int
                   ) -> Iterator[list[int]]:
    """The rows of each step after the first ``done``, epoch after epoch."""
    step = epoch = 0
    while step < total:
        for rows in _order(encoded, settings.seed, epoch, settings.batch_size):
            if step >= total:
                return
            step += 1
            if step > done:
                yield rows
        epoch += 1


def _order(encoded: Encoded, seed: int, epoch: int, batch_size: int) -> list[list[int]]:
    """Batches of similar length (less padding), in a random order."""
    rng = np.random.default_rng([seed, epoch, 7])
    order = np.arange(len(encoded.labels))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for b in range(0, len(order), pool):
        part = sorted(order[b:b + pool], key=lambda i: len(encoded.input_ids[i]))
        batches += [[int(i) for i in part[k:k + batch_size]]
                    for k in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def check_model(base_path: str, reader_weights: dict[str, Any], trained_layers: int
                ) -> tuple[Any, Any]:
    """The reader's encoder as a one-logit sequence classifier: all but the top
    ``trained_layers`` layers frozen, the head fresh."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "newly initialized: classifier" is expected here
    model = AutoModelForSequenceClassification.from_pretrained(base_path, num_labels=1)
    reader = {k: v.to(torch.float32) for k, v in reader_weights.items()
              if k.startswith("bert.")}
    model.load_state_dict(reader, strict=False)
    for p in model.parameters():
        p.requires_grad = False
    layers = model.bert.encoder.layer
    for layer in layers[len(layers) - trained_layers:]:
        for p in layer.parameters():
            p.requires_grad = True
    for p in model.classifier.parameters():
        p.requires_grad = True
    return model, AutoTokenizer.from_pretrained(base_path)


def logits_of(model: Any, encoded: Encoded, batch_size: int = 64) -> np.ndarray:
    import torch

    out: list[np.ndarray] = []
    with torch.inference_mode():
        for b in range(0, len(encoded.labels), batch_size):
            batch = batch_tensors(encoded.input_ids[b:b + batch_size],
                                  encoded.token_type_ids[b:b + batch_size])
            out.append(model(**batch).logits[:, 0].float().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def train_check(base_path: str, reader_weights: dict[str, Any], articles: dict[str, str],
                questions: Sequence[dict[str, Any]], out_dir: Path, settings: CheckSettings,
                progress: Progress | None = None,
                pairs_of: Callable[[set[str]], list[Pair]] | None = None) -> dict[str, Any]:
    """Trains (or resumes) into ``out_dir``; returns the run's record. The held-out
    articles' pairs are scored into ``held_out_scores.json`` (label, logit). ``pairs_of``
    builds the pairs of some articles (default: ``build_pairs``, sentence level)."""
    import torch

    def default_pairs(ids: set[str]) -> list[Pair]:
        return build_pairs(articles, questions, ids, settings)

    pairs_of = pairs_of or default_pairs

    train_ids, held_out = start_run(out_dir, list(articles), settings.held_out_articles,
                                    settings.seed, settings.threads)
    pairs = pairs_of(set(train_ids))
    if not pairs:
        raise InputError(f"No training pairs: the {len(train_ids)} training articles have no "
                         "usable questions (check the data, or hold out fewer articles).")
    model, tokenizer = check_model(base_path, reader_weights, settings.trained_layers)
    encoded = encode_pairs(tokenizer, pairs, settings.max_length)
    positives = sum(encoded.labels)
    per_epoch = math.ceil(len(pairs) / settings.batch_size)
    total = max(1, round(per_epoch * settings.epochs))
    # Negatives outnumber positives; weighting the positives keeps the logit centred.
    loss_fn = torch.nn.BCEWithLogitsLoss(
        pos_weight=torch.tensor((len(pairs) - positives) / max(1, positives)))
    record: dict[str, Any] = {"settings": asdict(settings), "train_articles": train_ids,
                              "held_out_articles": held_out, "pairs": len(pairs),
                              "pairs_by_kind": dict(Counter(p.kind for p in pairs)),
                              "steps": total}
    (out_dir / "run.json").write_text(json.dumps(record, indent=1))

    def loss_of(rows: list[int]) -> Any:
        batch = batch_tensors([encoded.input_ids[r] for r in rows],
                              [encoded.token_type_ids[r] for r in rows])
        labels = torch.tensor([float(encoded.labels[r]) for r in rows])
        return loss_fn(model(**batch).logits[:, 0], labels)

    step, seconds = fit(model, out_dir, total, settings.learning_rate, settings.weight_decay,
                        settings.warmup, settings.checkpoint_every,
                        lambda done: _check_batches(encoded, settings, total, done), loss_of,
                        progress)
    torch.save(trained_tensors(model, settings.trained_layers), out_dir / "trained.pt")
    held = pairs_of(set(held_out))
    scores = logits_of(model, encode_pairs(tokenizer, held, settings.max_length))
    (out_dir / "held_out_scores.json").write_text(json.dumps(
        [[p.label, round(float(x), 4)] for p, x in zip(held, scores)]))
    record.update({"seconds": seconds, "steps_done": step, "held_out_pairs": len(held)})
    (out_dir / "run.json").write_text(json.dumps(record, indent=1))
    return record


def trained_tensors(model: Any, trained_layers: int) -> dict[str, Any]:
    """What ships: the retrained top layers and the head."""
    n = len(model.bert.encoder.layer)
    prefixes = tuple(f"bert.encoder.layer.{i}." for i in range(n - trained_layers, n))
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if k.startswith(prefixes) or k.startswith("classifier.")}
