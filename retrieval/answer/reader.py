"""The trained extractive reader: scores every span of the passages as the answer, plus a
"no answer" score, with one small encoder (all-MiniLM-L6-v2 with a span head).

Long passages are read in overlapping windows. A span's score is its raw start + end logit,
never a softmax per window, so scores compare across windows and passages; the no-answer
score is the lowest score of the [CLS] "span" over the windows (the window most sure that it
holds an answer decides). ``Reading.margin`` (best span minus no-answer) is what the answer
path compares with its calibrated threshold.

A ``prior`` for each span (the answer path gives ``reader.passage_weight`` times the search
score of the found passage that holds it: ``neighbours.Widened.prior``) is added to its
score when the spans are ranked, never to the score itself: the margin stays the chosen span's
own. With an answerability check and a ``check_weight``, the check reads every candidate span
and that many times its logit joins the ranking too; ``Reading.answerable`` is then the chosen
span's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from retrieval.answer.answerability import batch_tensors, evidence_for


class Check(Protocol):
    """Scores whether each sentence answers the question (``AnswerabilityCheck``)."""

    level: str  # what it reads: "sentence", or "span" (the span marked in its sentence)

    def scores(self, question: str, sentences: Sequence[str]) -> list[float]: ...


@dataclass(frozen=True)
class Windowing:
    """How a question and its passages become the encoder's inputs."""

    max_length: int = 256
    stride: int = 96  # tokens shared by consecutive windows of one long passage
    max_answer_tokens: int = 30


@dataclass(frozen=True)
class Span:
    passage: int  # index into the texts read
    start: int  # character offsets in that text
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Reading:
    spans: list[Span]  # best first, non-overlapping
    no_answer: float
    # The answerability check's logit for the chosen span (None: no check).
    answerable: float | None = None

    @property
    def margin(self) -> float:
        """How much the best span beats "no answer" (-inf when there is no span at all)."""
        return self.spans[0].score - self.no_answer if self.spans else float("-inf")


# What ranks a span up, beside its own score (see the module's docstring).
Prior = Callable[[Span], float]


def encode(tokenizer: Any, questions: Sequence[str], texts: Sequence[str],
           windowing: Windowing) -> Any:
    """Question/passage pairs as windows: truncates only the passage, with overlap."""
    return tokenizer(list(questions), list(texts), truncation="only_second",
                     max_length=windowing.max_length, stride=windowing.stride,
                     return_overflowing_tokens=True, return_offsets_mapping=True,
                     padding=False)


def _best_in_window(start: np.ndarray, end: np.ndarray, context: np.ndarray,
                    max_tokens: int, top_n: int) -> list[tuple[float, int, int]]:
    """The top spans (score, first token, last token) among the window's passage tokens."""
    idx = np.flatnonzero(context)
    if idx.size == 0:
        return []
    s = start[idx]
    e = end[idx]
    scores = s[:, None] + e[None, :]
    width = np.arange(idx.size)[None, :] - np.arange(idx.size)[:, None]
    scores = np.where((width >= 0) & (width < max_tokens), scores, -np.inf)
    flat = np.argsort(scores, axis=None)[::-1][: top_n * 4]
    found = []
    for f in flat:
        i, j = divmod(int(f), idx.size)
        if not np.isfinite(scores[i, j]):
            break
        found.append((float(scores[i, j]), int(idx[i]), int(idx[j])))
    return found


def ranked(reading: Reading, prior: Prior | None = None,
           bonus: Sequence[float] = ()) -> Reading:
    """``reading`` with its spans ordered by score plus their ``prior`` plus their own
    ``bonus`` (one per span, in the reading's order)."""
    if (prior is None and not bonus) or len(reading.spans) < 2:
        return reading

    def key(i: int) -> float:
        span = reading.spans[i]
        return -(span.score + (prior(span) if prior is not None else 0.0) +
                 (bonus[i] if bonus else 0.0))

    return replace(reading, spans=[reading.spans[i]
                                   for i in sorted(range(len(reading.spans)), key=key)])


def spans_from_logits(features: Any, start_logits: np.ndarray, end_logits: np.ndarray,
                      texts: Sequence[str], windowing: Windowing, top_n: int,
                      windows: Sequence[int] | None = None, first: int = 0) -> Reading:
    """Spans and the no-answer score of one question read against ``texts``: the windows
    ``windows`` of ``features`` (all by default), whose samples ``first``, ``first + 1``, ...
    are ``texts``."""
    candidates: list[Span] = []
    no_answer = float("inf")
    for w in range(len(features["input_ids"])) if windows is None else windows:
        passage = features["overflow_to_sample_mapping"][w] - first
        seq = features.sequence_ids(w)
        offsets = features["offset_mapping"][w]
        n = len(features["input_ids"][w])
        context = np.array([seq[t] == 1 for t in range(n)])
        s, e = start_logits[w, :n], end_logits[w, :n]
        no_answer = min(no_answer, float(s[0] + e[0]))
        for score, i, j in _best_in_window(s, e, context, windowing.max_answer_tokens, top_n):
            a, b = offsets[i][0], offsets[j][1]
            candidates.append(Span(passage, a, b, texts[passage][a:b], score))
    candidates.sort(key=lambda span: -span.score)
    chosen: list[Span] = []
    for span in candidates:
        if any(c.passage == span.passage and c.start < span.end and span.start < c.end
               for c in chosen):
            continue
        chosen.append(span)
        if len(chosen) == top_n:
            break
    return Reading(chosen, no_answer)


class SpanReader:
    """Reads passages for one question at a time. Thread-safe: inference only, and the fast
    tokenizer (whose truncation settings each call sets) is used under a lock."""

    def __init__(self, model: Any, tokenizer: Any, windowing: Windowing | None = None,
                 batch_size: int = 16, check: Check | None = None,
                 check_weight: float = 0.0, tokenizer_lock: threading.Lock | None = None):
        self.model = model
        self.check = check
        # Only a span-level check tells the spans of one sentence apart; a sentence-level one
        # (measured only as an abstention test) scores just the chosen span.
        self.check_weight = check_weight if check is not None and check.level == "span" \
            else 0.0
        self.tokenizer = tokenizer
        self._tokenizing = tokenizer_lock or threading.Lock()
        self.windowing = windowing or Windowing()
        self.batch_size = batch_size

    def logits(self, features: Any) -> tuple[np.ndarray, np.ndarray]:
        import torch

        ids = features["input_ids"]
        width = max(len(x) for x in ids)  # one width: the caller's windows line up
        starts, ends = [], []
        with torch.inference_mode():
            for b in range(0, len(ids), self.batch_size):
                out = self.model(**batch_tensors(
                    ids[b:b + self.batch_size],
                    features["token_type_ids"][b:b + self.batch_size], width))
                starts.append(out.start_logits.float().numpy())
                ends.append(out.end_logits.float().numpy())
        return np.concatenate(starts), np.concatenate(ends)

    def read(self, question: str, texts: Sequence[str], top_n: int = 3,
             prior: Prior | None = None) -> Reading:
        texts = list(texts)
        if not texts:
            return Reading([], float("inf"))
        with self._tokenizing:
            features = encode(self.tokenizer, [question] * len(texts), texts, self.windowing)
        start, end = self.logits(features)
        return self._checked(question, texts,
                             spans_from_logits(features, start, end, texts, self.windowing,
                                               top_n), prior)

    def read_many(self, asked: Sequence[tuple[str, Sequence[str]]], top_n: int = 3
                  ) -> list[Reading]:
        """``read`` for many questions at once, their windows batched together (training
        data, evaluation)."""
        questions = [q for q, texts in asked for _ in texts]
        flat = [t for _, texts in asked for t in texts]
        if not flat:
            return [Reading([], float("inf")) for _ in asked]
        with self._tokenizing:
            features = encode(self.tokenizer, questions, flat, self.windowing)
        start, end = self.logits(features)
        by_sample: dict[int, list[int]] = {}
        for w, sample in enumerate(features["overflow_to_sample_mapping"]):
            by_sample.setdefault(sample, []).append(w)
        readings: list[Reading] = []
        first = 0
        for question, texts in asked:
            windows = [w for i in range(first, first + len(texts))
                       for w in by_sample.get(i, [])]
            reading = spans_from_logits(features, start, end, list(texts), self.windowing,
                                        top_n, windows, first) if texts \
                else Reading([], float("inf"))
            readings.append(self._checked(question, list(texts), reading))
            first += len(texts)
        return readings

    def _checked(self, question: str, texts: Sequence[str], reading: Reading,
                 prior: Prior | None = None) -> Reading:
        """The spans ranked (``prior``, and the check's logits when it ranks too), with the
        check's score for the chosen one."""
        if self.check is None or not reading.spans:
            return ranked(reading, prior)
        if not self.check_weight:
            reading = ranked(reading, prior)
        candidates = reading.spans if self.check_weight else reading.spans[:1]
        scores = self.check.scores(question, [
            evidence_for(self.check.level, texts[s.passage], s.start, s.end)
            for s in candidates])
        if self.check_weight:
            by_span = dict(zip(candidates, scores))  # spans are frozen: hashable
            reading = ranked(reading, prior, [self.check_weight * x for x in scores])
            return replace(reading, answerable=by_span[reading.spans[0]])
        return replace(reading, answerable=scores[0])
