"""Decoding constrained to phrases copied from the passages.

A base model asked for "the shortest phrase copied from its passage" still paraphrases,
runs on, or answers from memory. Here every answer token must continue one of a fixed set
of phrases (word sequences of the chosen sentences, or the typed candidates), so the answer
is verbatim-grounded by construction, and the model's own preferences choose among them.
The cost is the same as free generation: one token decoded per answer token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

Tokenize = Callable[[str], list[int]]
LogitsProcessor = Callable[[np.ndarray, np.ndarray], np.ndarray]


class PhraseTrie:
    """Token sequences of the allowed phrases; ``end`` may follow a complete phrase."""

    def __init__(self, end: int):
        self.end = end
        self._children: dict[tuple[int, ...], set[int]] = {}
        self._complete: set[tuple[int, ...]] = set()
        self.phrases: dict[tuple[int, ...], str] = {}

    def add(self, tokens: Sequence[int], phrase: str) -> None:
        path = tuple(tokens)
        if not path:
            return
        for i in range(len(path)):
            self._children.setdefault(path[:i], set()).add(path[i])
        self._complete.add(path)
        self.phrases.setdefault(path, phrase)

    def __len__(self) -> int:
        return len(self._complete)

    def allowed(self, prefix: tuple[int, ...]) -> list[int]:
        """Tokens that may follow ``prefix`` (``end`` when it completes a phrase)."""
        following = list(self._children.get(prefix, ()))
        if prefix in self._complete:
            following.append(self.end)
        return following


def build_trie(phrases: Iterable[str], tokenize: Tokenize, end: int) -> PhraseTrie:
    trie = PhraseTrie(end)
    for phrase in dict.fromkeys(phrases):
        trie.add(tokenize(" " + phrase), phrase)
    return trie


def constrain_to(trie: PhraseTrie) -> LogitsProcessor:
    """A llama-cpp-python logits processor that keeps only the tokens the trie allows.

    The prompt's length is taken at the first call, so later calls see what was generated.
    """
    state: dict[str, int] = {}

    def process(input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        prompt_length = state.setdefault("prompt", len(input_ids))
        generated = tuple(int(t) for t in input_ids[prompt_length:])
        allowed = trie.allowed(generated) or [trie.end]
        masked = np.full_like(scores, -np.inf)
        masked[allowed] = scores[allowed]
        return masked

    return process
