"""Evaluation metrics: SQuAD answer scores, retrieval hit@k / MRR, one question's record and
the summary row.

Pure functions over plain data, so they are tested on known inputs without any model. The
data sets are read in ``datasets``; the runner that drives an Engine over a question set
lives in ``answer_eval``.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# -- SQuAD answer scores (the official v2.0 evaluation script's normalisation) -----------------
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, drop the articles a/an/the, collapse white space."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer (max over golds)."""
    if not golds:  # unanswerable: the right answer is no answer
        return float(not normalize_answer(prediction))
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def _f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Token-overlap F1 of the normalised answers, the best over the gold answers."""
    if not golds:
        return float(not normalize_answer(prediction))
    return max(_f1(prediction, g) for g in golds)


# -- retrieval ---------------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+", re.UNICODE)


def _tokens(text: str) -> str:
    """Word characters only, lower case, no articles: "(1920–1999)" -> " 1920 1999 "."""
    words = [w for w in _TOKEN.findall(text.lower()) if w not in ("a", "an", "the")]
    return f" {' '.join(words)} "


def contains_answer(passage: str, golds: Sequence[str]) -> bool:
    """A passage holds a gold answer when it contains the answer's words in sequence.

    Words are runs of letters and digits, so punctuation never hides an answer: "1999" is in
    "(1920–1999)" and "John Paul II" in "John Paul II's" (the SQuAD normalisation keeps the
    en dash and the possessive, and would miss both).
    """
    haystack = _tokens(passage)
    return any(n in haystack for g in golds if (n := _tokens(g)).strip())


def first_rank(flags: Sequence[bool]) -> int | None:
    """1-based position of the first true flag, ``None`` when there is none."""
    return next((i + 1 for i, flag in enumerate(flags) if flag), None)


def hit_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose first relevant passage ranks within the top ``k``."""
    return sum(r is not None and r <= k for r in ranks) / len(ranks) if ranks else 0.0


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float:
    return sum(1.0 / r for r in ranks if r) / len(ranks) if ranks else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), 0.0 for no values: the one meaning of
    p50/p95 in every report (``eval``, ``eval --summaries``, ``bench``)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- one question's record and the summary -------------------------------------------------
@dataclass
class QuestionResult:
    qid: str
    question: str
    answerable: bool
    off_topic: bool
    golds: tuple[str, ...]
    answer: str
    abstained: bool
    contexts: list[str]
    latency_s: float
    first_token_s: float | None = None
    tokens: int = 0
    context_tokens: int = 0
    answer_rank: int | None = None  # first retrieved passage that contains a gold answer
    paragraph_rank: int | None = None  # first retrieved passage from the gold paragraph
    kind: str = ""
    reader_margin: float | None = None  # the trained reader's best span minus "no answer"
    answerable_score: float | None = None  # the answerability check's logit
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def em(self) -> float:
        return 0.0 if self.abstained else exact_match(self.answer, self.golds)

    @property
    def f1(self) -> float:
        return 0.0 if self.abstained else f1_score(self.answer, self.golds)

    def to_json(self) -> dict[str, Any]:
        return {
            "qid": self.qid, "question": self.question, "answer": self.answer,
            "abstained": self.abstained, "contexts": self.contexts,
            "latency_s": round(self.latency_s, 4),
            "answerable": self.answerable, "off_topic": self.off_topic,
            "gold_answers": list(self.golds),
            "em": self.em if self.answerable else None,
            "f1": round(self.f1, 4) if self.answerable else None,
            "answer_rank": self.answer_rank, "paragraph_rank": self.paragraph_rank,
            "context_tokens": self.context_tokens, "kind": self.kind or None,
            "reader_margin": None if self.reader_margin is None else round(self.reader_margin, 3),
            "answerable_score": None if self.answerable_score is None
            else round(self.answerable_score, 3),
            **self.extra,
        }


def _share(flags: Sequence[bool]) -> float | None:
    return round(100 * sum(flags) / len(flags), 1) if flags else None


def summarize_results(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """The report: percentages (0-100) for scores and rates, seconds for latency."""
    on_topic = [r for r in results if not r.off_topic]
    answerable = [r for r in on_topic if r.answerable]
    unanswerable = [r for r in on_topic if not r.answerable]
    off_topic = [r for r in results if r.off_topic]
    ranks = [r.answer_rank for r in answerable]
    paragraph_ranks = [r.paragraph_rank for r in answerable]
    latencies = [r.latency_s for r in results]
    first = [r.first_token_s for r in results if r.first_token_s is not None]
    asked = [r for r in on_topic if r.contexts]

    def pct(value: float) -> float:
        return round(100 * value, 1)

    report: dict[str, Any] = {
        "questions": len(results), "answerable": len(answerable),
        "unanswerable": len(unanswerable), "off_topic": len(off_topic),
        "f1": pct(sum(r.f1 for r in answerable) / len(answerable)) if answerable else None,
        "em": pct(sum(r.em for r in answerable) / len(answerable)) if answerable else None,
        "hit_at_1": pct(hit_at(ranks, 1)), "hit_at_3": pct(hit_at(ranks, 3)),
        "hit_at_5": pct(hit_at(ranks, 5)), "hit_at_10": pct(hit_at(ranks, 10)),
        "mrr": round(mean_reciprocal_rank(ranks), 3),
        "paragraph_hit_at_5": pct(hit_at(paragraph_ranks, 5)),
        "paragraph_mrr": round(mean_reciprocal_rank(paragraph_ranks), 3),
        "context_hit": _share([any(contains_answer(c, r.golds) for c in r.contexts)
                               for r in answerable]),
        "context_tokens": round(sum(r.context_tokens for r in asked) / len(asked), 1)
        if asked else 0.0,
        "context_tokens_max": max((r.context_tokens for r in on_topic), default=0),
        "abstain_unanswerable": _share([r.abstained for r in unanswerable]),
        "false_abstain": _share([r.abstained for r in answerable]),
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "first_token_p50_s": round(percentile(first, 50), 3),
    }
    if off_topic:
        report["abstain_off_topic"] = _share([r.abstained for r in off_topic])
    report.update(reader_separation(answerable, unanswerable, off_topic))
    report["answered_unanswerable"] = sum(not r.abstained for r in unanswerable)
    report["answered_off_topic"] = sum(not r.abstained for r in off_topic)
    kinds = sorted({r.kind for r in answerable if r.kind})
    if kinds:
        report["by_kind"] = {
            kind: {"questions": len(group), "f1": pct(sum(r.f1 for r in group) / len(group)),
                   "em": pct(sum(r.em for r in group) / len(group)),
                   "false_abstain": _share([r.abstained for r in group])}
            for kind in kinds if (group := [r for r in answerable if r.kind == kind])
        }
    return report


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """The probability that a positive scores above a negative (ties count half)."""
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def reader_separation(answerable: Sequence[QuestionResult],
                      unanswerable: Sequence[QuestionResult],
                      off_topic: Sequence[QuestionResult]) -> dict[str, float]:
    """How well the reader's margin tells answerable questions from the others (AUC), over
    the questions it read (the off-topic gate in front stops some before it)."""
    def margins(group: Sequence[QuestionResult]) -> list[float]:
        return [r.reader_margin for r in group if r.reader_margin is not None]

    found: dict[str, float] = {}
    for name, group in (("reader_auc_unanswerable", unanswerable),
                        ("reader_auc_off_topic", off_topic)):
        value = auc(margins(answerable), margins(group))
        if value is not None:
            found[name] = round(value, 3)
    return found
