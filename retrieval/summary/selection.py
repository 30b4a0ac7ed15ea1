"""Pick an article's central sentences: the raw material of every summary.

Each sentence gets a relevance score, then sentences are chosen greedily by maximal marginal
relevance (MMR: relevance minus similarity to what is already chosen), skipping ones that
repeat the title or an already chosen sentence, and returned in article order.

Relevance, by ``method``:
- ``centrality``: MiniLM similarity of the sentence to the article's mean sentence vector
  (the embedder is already loaded for search), plus a lead bias.
- ``lexrank``: LexRank (Erkan & Radev 2004) over TF-IDF cosine similarities of the article's
  own sentences, power iteration with damping 0.85, plus the same lead bias.
- ``lead``: the first sentences, for comparison.

News puts its main point first; the lead bias is ``lead_weight / (1 + sentence index / 4)``.
A sentence that names people, places or figures carries the facts a reader wants: it gets
``fact_weight`` × (its distinct names and numbers, up to four) / 4.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.summary import faithfulness as fa
from retrieval.text.names import tokens
from retrieval.text.sentences import split_sentences
from retrieval.text.words import STOPWORDS, stem

Embed = Callable[[Sequence[str]], np.ndarray]

_MIN_WORDS = 6  # shorter "sentences" are datelines, captions and fragments
# Openers that point back at an earlier sentence; alone in a bullet they read as non sequiturs.
_DANGLING = frozenset("he she it they this that these those his her its their such".split())


@dataclass(frozen=True)
class Sentence:
    index: int  # position among the article's sentences
    paragraph: int  # index of its paragraph (0-based)
    text: str


@dataclass(frozen=True)
class Selection:
    method: str
    lead_weight: float
    redundancy: float  # MMR weight of similarity to chosen sentences (0: none)
    fact_weight: float = 0.0  # bonus for names and numbers (who, how much), up to four


def _facts(text: str) -> int:
    """Distinct names and numbers in a sentence (not counting its first word)."""
    return len({t.lower for t in tokens(text)[1:] if t.is_name or t.is_number})


def article_sentences(paragraphs: Sequence[str], max_sentences: int) -> list[Sentence]:
    """The article's sentences; past ``max_sentences``, an evenly spaced subset (the cap on
    work per summary), always keeping the opening ones."""
    found = [Sentence(0, p, " ".join(paragraph[s:e].split()))
             for p, paragraph in enumerate(paragraphs) for s, e in split_sentences(paragraph)]
    if len(found) > max_sentences:
        head = max_sentences // 4
        rest = found[head:]
        step = len(rest) / (max_sentences - head)
        found = found[:head] + [rest[int(i * step)] for i in range(max_sentences - head)]
    return [Sentence(i, s.paragraph, s.text) for i, s in enumerate(found)]


def usable(sentence: Sentence, title: str) -> bool:
    words = sentence.text.split()
    return len(words) >= _MIN_WORDS and not fa.echoes_title(sentence.text, title) \
        and not sentence.text.endswith("?")


def _lead_bias(count: int, weight: float) -> np.ndarray:
    return weight / (1.0 + np.arange(count) / 4.0)


def _tfidf(texts: Sequence[str]) -> np.ndarray:
    bags = [Counter(stem(t.lower) for t in tokens(text)
                    if t.lower not in STOPWORDS) for text in texts]
    vocabulary = {w: i for i, w in enumerate(sorted({w for bag in bags for w in bag}))}
    matrix = np.zeros((len(texts), max(1, len(vocabulary))), dtype=np.float32)
    for row, bag in enumerate(bags):
        for word, count in bag.items():
            matrix[row, vocabulary[word]] = count
    idf = np.log((1 + len(texts)) / (1 + (matrix > 0).sum(axis=0))) + 1.0
    matrix *= idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-9)


def _lexrank(similarity: np.ndarray, threshold: float = 0.1, damping: float = 0.85
             ) -> np.ndarray:
    n = similarity.shape[0]
    adjacency = (similarity >= threshold).astype(np.float64)
    adjacency /= adjacency.sum(axis=1, keepdims=True)
    scores = np.full(n, 1.0 / n)
    for _ in range(50):
        updated = (1 - damping) / n + damping * adjacency.T @ scores
        if np.abs(updated - scores).sum() < 1e-6:
            return updated * n
        scores = updated
    return scores * n


def _scores(texts: Sequence[str], selection: Selection, embed: Embed
            ) -> tuple[np.ndarray, np.ndarray]:
    """(relevance per sentence, pairwise similarity) for ``selection.method``."""
    n = len(texts)
    bias = _lead_bias(n, selection.lead_weight)
    if selection.method == "centrality":
        vectors = np.asarray(embed(texts), dtype=np.float32)
        centroid = vectors.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
        return vectors @ centroid + bias, vectors @ vectors.T
    similarity = _tfidf(texts) @ _tfidf(texts).T
    if selection.method == "lexrank":
        rank = _lexrank(similarity)
        return rank / max(float(rank.max()), 1e-9) + bias, similarity
    return -np.arange(n, dtype=np.float64), similarity  # lead


def select(sentences: Sequence[Sentence], title: str, count: int, selection: Selection,
           embed: Embed) -> list[Sentence]:
    """Up to ``count`` central, mutually distinct sentences, in article order."""
    candidates = [s for s in sentences if usable(s, title)]
    if not candidates or count < 1:
        return []
    relevance, similarity = _scores([s.text for s in candidates], selection, embed)
    for i, sentence in enumerate(candidates):
        first = sentence.text.split()[0].lower().strip("\"'“‘")
        if first in _DANGLING:
            relevance[i] -= 0.1
        relevance[i] += selection.fact_weight * min(1.0, _facts(sentence.text) / 4)
    stems = [fa.content_stems(s.text) for s in candidates]
    chosen: list[int] = []
    while len(chosen) < count:
        best, best_score = -1, -math.inf
        for i in range(len(candidates)):
            if i in chosen or any(fa.stems_echo(stems[i], stems[j]) for j in chosen):
                continue
            penalty = max((float(similarity[i, j]) for j in chosen), default=0.0)
            score = float(relevance[i]) - selection.redundancy * penalty
            if score > best_score:
                best, best_score = i, score
        if best < 0:
            break
        chosen.append(best)
    return [candidates[i] for i in sorted(chosen)]
