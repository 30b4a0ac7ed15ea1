"""Whether the retrieved passages answer the question at all: the abstention decision.

It must behave the same on a server with one five-chunk article and on one with thousands
of articles, so nothing here is computed from the collection. A question word weighs by its
rarity in English at large (the ``wordfreq`` list, offline): "sourdough" or "Bessent" weigh
a lot, "take" or "place" little, whatever the collection holds. The support score is

    best cosine + coverage_weight * (rarity-weighted share of the question's words found in
    the passages or their titles) - name_weight * (share of the question's names and numbers
    that no passage has) + cover_bonus (when the passages hold every name and number of the
    question and at least ``FULL_COVER`` of its weighted words)

and the model is asked only when it reaches ``min_support``. The bonus is for short
questions about a name ("Who is He Lifeng?"): all their words are in the passage, but a
five-word question is never very close to a 100-word passage by cosine.

A question about something the articles do not hold names rare things the passages lack;
one in the user's own words still shares its rare words (the names, the topic) with the
passage that answers it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from retrieval.text.names import tokens
from retrieval.text.words import bm25_tokens, stem
from retrieval.types import Passage

# Zipf frequency (log10 of occurrences per billion words) of the rarest common word that
# still weighs something: "the" is 7.7, "take" 6.2, "talks" 5.0, "tariffs" 3.9.
_CEILING = 7.0
_FLOOR_WEIGHT = 0.5  # words of the highest frequency still count a little
_UNKNOWN_ZIPF = 1.0  # words the list lacks: names, typos, numbers
FULL_COVER = 0.85  # weighted share of the question's words that counts as all of them

ZipfLookup = Callable[[str], float]


def wordfreq_zipf() -> ZipfLookup:
    """The English Zipf-frequency lookup of the ``wordfreq`` package (offline, ~10 ms load)."""
    from wordfreq import zipf_frequency

    return lambda word: float(zipf_frequency(word, "en"))


def names_and_numbers(question: str) -> list[str]:
    """The question's names and numbers (``retrieval.text.names``; not its first word, which
    any question capitalises), each as the BM25 word the passages are compared in."""
    found = []
    for token in tokens(question)[1:]:
        if token.is_name or token.is_number:
            words = bm25_tokens(question[token.start:token.end])
            if words:
                found.append(words[0])
    return found


@dataclass(frozen=True)
class Support:
    """The parts of the support score, kept for evaluation and logs."""

    dense: float
    coverage: float
    missing_names: float
    score: float


class SupportGate:
    """Scores how well passages cover a question; built once, shared by every question."""

    def __init__(self, zipf: ZipfLookup, *, coverage_weight: float, name_weight: float,
                 min_support: float, min_score: float, cover_bonus: float = 0.0):
        self._weight = lru_cache(maxsize=65536)(self._rarity(zipf))
        self.coverage_weight = coverage_weight
        self.name_weight = name_weight
        self.cover_bonus = cover_bonus
        self.min_support = min_support
        self.min_score = min_score

    @staticmethod
    def _rarity(zipf: ZipfLookup) -> Callable[[str], float]:
        def weight(word: str) -> float:
            frequency = zipf(word) or _UNKNOWN_ZIPF
            return max(_FLOOR_WEIGHT, _CEILING - frequency)

        return weight

    def weight(self, word: str) -> float:
        return float(self._weight(word))

    def support(self, question: str, passages: Sequence[Passage]) -> Support:
        if not passages:
            return Support(-1.0, 0.0, 1.0, float("-inf"))
        dense = max(p.dense for p in passages)
        words = list(dict.fromkeys(bm25_tokens(question)))
        if not words:
            return Support(dense, 0.0, 0.0, dense)
        seen: set[str] = set()
        for passage in passages:
            seen.update(bm25_tokens(f"{passage.title}\n{passage.text}"))
        stems = {stem(w) for w in seen}
        found = [w in seen or stem(w) in stems for w in words]
        weights = [self.weight(w) for w in words]
        coverage = sum(w for w, hit in zip(weights, found) if hit) / sum(weights)
        names = names_and_numbers(question)
        missing = (sum(n not in seen and stem(n) not in stems for n in names) / len(names)
                   if names else 0.0)
        score = dense + self.coverage_weight * coverage - self.name_weight * missing
        if names and missing == 0.0 and coverage >= FULL_COVER:
            score += self.cover_bonus
        return Support(dense, coverage, missing, score)

    def supported(self, question: str, passages: Sequence[Passage]) -> bool:
        if not passages or max(p.dense for p in passages) < self.min_score:
            return False
        return self.support(question, passages).score >= self.min_support
