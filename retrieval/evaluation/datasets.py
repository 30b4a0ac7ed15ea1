"""The evaluation data: SQuAD-style articles and questions read from JSON lines, the held
and withheld halves of the articles, and the seeded question sample."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EvalArticle:
    doc_id: str
    title: str
    text: str  # paragraphs separated by blank lines

    @property
    def paragraphs(self) -> list[str]:
        return self.text.split("\n\n")


@dataclass(frozen=True)
class EvalQuestion:
    qid: str
    doc_id: str
    question: str
    answers: tuple[str, ...]
    answerable: bool
    paragraph: int
    kind: str = ""  # news-qa: entity, number, place, event, reason, unanswerable, off_topic

    @property
    def off_topic(self) -> bool:
        return self.kind == "off_topic"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_articles(path: Path) -> list[EvalArticle]:
    return [EvalArticle(r["doc_id"], r["title"], r["text"]) for r in read_jsonl(path)]


def load_questions(path: Path) -> list[EvalQuestion]:
    return [EvalQuestion(r["qid"], r["doc_id"], r["question"], tuple(r.get("answers") or ()),
                         bool(r["answerable"]), int(r.get("paragraph", -1)),
                         str(r.get("kind") or ""))
            for r in read_jsonl(path)]


def split_articles(articles: Sequence[EvalArticle], seed: int
                   ) -> tuple[list[EvalArticle], list[EvalArticle]]:
    """Held and withheld halves of the articles, chosen by ``seed``."""
    shuffled = list(articles)
    random.Random(seed).shuffle(shuffled)
    half = (len(shuffled) + 1) // 2
    return shuffled[:half], shuffled[half:]


def sample_questions(questions: Iterable[EvalQuestion], limit: int, seed: int,
                     answerable_share: float = 0.6) -> list[EvalQuestion]:
    """``limit`` questions, 60 % answerable (150 + 100 of 250), drawn with ``seed``."""
    pool = list(questions)
    answerable = [q for q in pool if q.answerable]
    unanswerable = [q for q in pool if not q.answerable]
    rng = random.Random(seed)
    n_answerable = min(len(answerable), round(limit * answerable_share))
    n_unanswerable = min(len(unanswerable), limit - n_answerable)
    return rng.sample(answerable, n_answerable) + rng.sample(unanswerable, n_unanswerable)
