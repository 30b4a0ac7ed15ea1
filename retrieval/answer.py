"""Turning a model's raw output and the passages into a grounded, cited answer.

Small base models answer from memory when the passages do not help ("Paris"), so an answer
counts only when its words are found in the passages; otherwise the engine abstains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from retrieval.chunking import split_sentences
from retrieval.indexes import bm25_tokens
from retrieval.prompts import NOT_COVERED
from retrieval.types import Citation, Passage

ABSTAIN_TEXT = "The articles I have don't cover that."

_CITATION_MARK = re.compile(r"\[(\d{1,2})\]")


def clean_answer(raw: str) -> str:
    """First line of the model's output, without cue echoes and dangling punctuation."""
    text = raw.strip().split("\n", 1)[0].strip()
    for cue in ("Answer:", "A:"):
        if text.startswith(cue):
            text = text[len(cue):].strip()
    return text.strip(" \"'“”").rstrip(",;:")


def is_refusal(text: str) -> bool:
    lowered = text.lower()
    return not text or NOT_COVERED.lower() in lowered or lowered in {
        "unknown", "none", "n/a", "no answer", "not mentioned", "not stated"}


def _words(text: str) -> list[str]:
    return bm25_tokens(text)


def grounding(answer: str, passages: Sequence[Passage]) -> float:
    """Share of the answer's content words that occur in the passages (1.0 if it has none)."""
    words = _words(_CITATION_MARK.sub(" ", answer))
    if not words:
        return 1.0 if answer.strip() else 0.0
    vocabulary = set(_words(" ".join(p.text for p in passages)))
    # A word that starts a passage word counts too: "1950" is supported by "the 1950s".
    return sum(w in vocabulary or any(v.startswith(w) for v in vocabulary)
               for w in words) / len(words)


def _best_sentence(passage: Passage, probe: set[str], limit: int) -> str:
    sentences = [passage.text[s:e] for s, e in split_sentences(passage.text)] or [passage.text]
    best = max(sentences, key=lambda s: len(probe & set(_words(s))))
    return best if len(best) <= limit else best[: limit - 1].rstrip() + "…"


def cite(
    answer: str, question: str, passages: Sequence[Passage], quote_chars: int
) -> list[Citation]:
    """Citations for an answer: passages it marks with [n], else those that contain it."""
    marked = [int(n) - 1 for n in _CITATION_MARK.findall(answer)]
    chosen = [passages[i] for i in dict.fromkeys(marked) if 0 <= i < len(passages)]
    if not chosen:
        needle = " ".join(answer.lower().split())
        chosen = [p for p in passages if needle and needle in " ".join(p.text.lower().split())]
    if not chosen:
        answer_words = set(_words(answer))
        overlap = [(len(answer_words & set(_words(p.text))), p) for p in passages]
        best = max((n for n, _ in overlap), default=0)
        chosen = [p for n, p in overlap if n == best and n > 0][:1] or list(passages[:1])
    probe = set(_words(answer)) | set(_words(question))
    return [
        Citation(p.article_id, p.title, p.paragraph, _best_sentence(p, probe, quote_chars),
                 round(p.dense, 4))
        for p in chosen
    ]
