"""Questions grouped by meaning: greedy clustering on the cosine similarity of their
embeddings, so paraphrases ("Who negotiates for China?", "Who is China's lead trade
negotiator?") count as one question.

Greedy and order-dependent on purpose: it is linear in questions × groups, needs no number of
clusters, and a wording joins the first group (most frequent first) whose seed it is close
to. No statistic of the collection is used: one question groups the same way in a log of ten
or of ten thousand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def group_by_meaning(vectors: np.ndarray, weights: Sequence[int], threshold: float
                     ) -> list[list[int]]:
    """Indices of ``vectors`` (unit rows) in groups. Rows are visited heaviest first (ties in
    the given order); a row joins the first group whose seed row, or whose mean, it reaches
    ``threshold`` with, else it seeds a new group."""
    order = sorted(range(len(weights)), key=lambda i: -weights[i])
    groups: list[list[int]] = []
    seeds: list[np.ndarray] = []
    sums: list[np.ndarray] = []
    for i in order:
        vector = vectors[i]
        best, best_score = -1, threshold
        for g, (seed, total) in enumerate(zip(seeds, sums)):
            norm = float(np.linalg.norm(total)) or 1.0
            score = max(float(seed @ vector), float(total @ vector) / norm)
            if score >= best_score:
                best, best_score = g, score
                break
        if best < 0:
            groups.append([i])
            seeds.append(vector)
            sums.append(vector.astype(np.float64).copy())
        else:
            groups[best].append(i)
            sums[best] += vector
    return groups
