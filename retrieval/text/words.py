"""Word rules shared by index time and query time: the BM25 tokenizer (with its English stop
words) and the crude stemmer that matches "talks" with "talk"."""

from __future__ import annotations

import re
from functools import cache

_WORD = re.compile(r"[^\W_]+(?:['’.][^\W_]+)*", re.UNICODE)


@cache
def _stopwords() -> frozenset[str]:
    """bm25s's English list: a constant, built on first use (bm25s is imported lazily)."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def bm25_tokens(text: str) -> list[str]:
    """Lower-cased words without English stop words; "U.S." and "Trump's" stay whole."""
    stopwords = _stopwords()
    words = (w.replace("’", "'").replace(".", "") for w in _WORD.findall(text.lower()))
    return [w[:-2] if w.endswith("'s") else w for w in words if w and w not in stopwords]


_SUFFIXES = ("'s", "ing", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    """The one stemmer (search's support gate, the answer's sentence ranking and grounding
    check, a summary's faithfulness and echo checks): crude, enough to match "talks"/"talk",
    "signalled"/"signaled", "raised"/"raise", "outlining"/"outline". ``word`` is lower case."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and not word[-1].isdigit():
        word = word[:-1]
    return word
