"""Word rules shared by index time, query time and summaries: the one stop-word list, the
BM25 tokenizer and the crude stemmer that matches "talks" with "talk"."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:['’.][^\W_]+)*", re.UNICODE)

# The one stop-word list: words that are no evidence either way (function words, question
# words, titles, and the small talk of news prose: "said", "told", "according"). BM25 leaves
# them out of the index and the query; the support gate, the answer's content words and a
# summary's checks do not count them. "us" and "may" are not on it: lower-cased, they are
# also "US" and "May".
STOPWORDS = frozenset("""
a about above according after again against all also although am amid among an and any are
as at be because been before being below between both but by can could despite did do does
doing down dr during each few for from further had has have having he her here hers herself
him himself his how however i if in into is it its itself just like me meanwhile might more
most mr mrs ms must my myself no nor not now of off on once only or other our ours ourselves
out over own per said same say says shall she should since so some still such tell than that
the their theirs them themselves then there these they this those though through to told too
under until up upon very via was we were what when where whether which while who whom whose
why will with within without would yet you your yours yourself
""".split())

# Saved BM25 indexes record this; one built with other tokens is rebuilt (``store.indexes``).
TOKENIZER = "words-2"


def bm25_tokens(text: str) -> list[str]:
    """Lower-cased words without stop words; "U.S." and "Trump's" stay whole."""
    words = (w.replace("’", "'").replace(".", "") for w in _WORD.findall(text.lower()))
    return [w[:-2] if w.endswith("'s") else w for w in words if w and w not in STOPWORDS]


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
