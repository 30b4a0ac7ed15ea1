"""The answerability check: does the sentence holding the reader's best span answer the
question? One logit per (question, sentence); the answer path abstains below
``reader.min_answerable``.

The check shares the reader's embeddings and lower layers (the same module objects, so the
memory is one layer and a head) and has its own top layer; see ``check_training``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from retrieval.text.sentences import sentence_around


def mark_span(text: str, start: int, end: int) -> str:
    """The sentence of ``text`` holding ``start``-``end``, with the span between « and »: the
    span-level check reads which phrase is offered as the answer, not only where it sits."""
    a, b = sentence_around(text, start, end)
    return f"{text[a:start]}« {text[start:end]} »{text[end:b]}".strip()


def evidence_for(level: str, text: str, start: int, end: int) -> str:
    """What the check reads for a span of ``text``: its sentence ("sentence") or that
    sentence with the span marked ("span")."""
    if level == "span":
        return mark_span(text, start, end)
    a, b = sentence_around(text, start, end)
    return text[a:b].strip()


def batch_tensors(input_ids: Sequence[Sequence[int]], token_type_ids: Sequence[Sequence[int]],
                  width: int | None = None) -> dict[str, Any]:
    """Token rows as the encoder's padded inputs, ``width`` wide (default: the longest)."""
    import torch

    width = width or max(len(x) for x in input_ids)
    ids = torch.zeros((len(input_ids), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, (row, tt) in enumerate(zip(input_ids, token_type_ids)):
        ids[i, :len(row)] = torch.tensor(row)
        types[i, :len(row)] = torch.tensor(tt)
        mask[i, :len(row)] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


class AnswerabilityCheck:
    """Thread-safe: inference only; the fast tokenizer is used under a lock. A tokenizer
    shared with the reader must share its lock too (``tokenizer_lock``): each call sets the
    tokenizer's truncation, and the reader's differs."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 128,
                 level: str = "sentence", tokenizer_lock: threading.Lock | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.level = level
        self._tokenizing = tokenizer_lock or threading.Lock()

    def scores(self, question: str, sentences: Sequence[str]) -> list[float]:
        import torch

        if not sentences:
            return []
        with self._tokenizing:
            feats = self.tokenizer([question] * len(sentences), list(sentences),
                                   truncation="longest_first", max_length=self.max_length,
                                   padding=False)
        batch = batch_tensors(feats["input_ids"], feats["token_type_ids"])
        with torch.inference_mode():
            logits = self.model(**batch).logits[:, 0].float()
        return [float(x) for x in logits]


def share_lower_layers(check: Any, reader: Any, trained_layers: int) -> None:
    """Points the check's embeddings and lower layers at the reader's own modules (the check
    was trained on top of them, frozen)."""
    check.bert.embeddings = reader.bert.embeddings
    layers = check.bert.encoder.layer
    for i in range(len(layers) - trained_layers):
        layers[i] = reader.bert.encoder.layer[i]
