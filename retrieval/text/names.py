"""The one name and number detector: which words of a text are names and which are numbers.

A *number* is a figure ("1,200", "4.5") or a number word ("three", "dozens", "twice"); a
*name* is a capitalised word that is neither a number nor a stop word ("Riverton", "US",
"Lifeng", and a word capitalised only because it opens a sentence: ``Token.start_of_sentence``
tells those apart). Search's support gate asks whether the passages hold a question's names
and numbers; a summary's faithfulness check, whether its article holds a line's; the answer's
typed candidates take their number words and months from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.text.sentences import MONTH_ABBREVIATIONS, sentence_starts
from retrieval.text.words import STOPWORDS

__all__ = ["CALENDAR", "MONTHS", "MONTH_ABBREVIATIONS", "NUMBER_WORDS", "TITLES", "WEEKDAYS",
           "Token", "names_and_numbers", "tokens"]

NUMBER_WORDS = frozenset("""
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
ninety hundred hundreds thousand thousands million millions billion billions trillion
dozen dozens half quarter third double twice triple
""".split())
MONTHS = ("january february march april may june july august september october november "
          "december").split()
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
# Capitalised, yet no names of people or places: the days and the months.
CALENDAR = frozenset(MONTHS + WEEKDAYS)
# Words written before a name that are not part of it.
TITLES = frozenset("mr mrs ms dr sir lord".split())

# Figures, and words (letters, then letters or digits: "G7", "Zürich") joined by dots,
# apostrophes or hyphens ("U.S.", "O'Neill", "Coca-Cola").
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_][^\W_]*(?:[.'’\-][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")


@dataclass(frozen=True)
class Token:
    text: str  # as written, dots and possessive removed ("U.S." -> "US", "Beijing's" -> "Beijing")
    start_of_sentence: bool
    start: int  # where it stands in the text, as written
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower()

    @property
    def is_number(self) -> bool:
        return self.text[0].isdigit() or self.lower in NUMBER_WORDS

    @property
    def is_capitalised(self) -> bool:
        return self.text[0].isupper()

    @property
    def is_name(self) -> bool:
        return self.is_capitalised and not self.is_number and self.lower not in STOPWORDS


def tokens(text: str) -> list[Token]:
    """The words and numbers of ``text``, each marked when it opens a sentence
    (``retrieval.text.sentences``)."""
    found: list[Token] = []
    starts = sentence_starts(text)
    next_start = 0
    for match in _TOKEN.finditer(text):
        opens = False
        while next_start < len(starts) and starts[next_start] <= match.start():
            opens, next_start = True, next_start + 1
        raw = match.group()
        word = raw.replace(",", "") if raw[0].isdigit() else \
            _POSSESSIVE.sub("", raw).replace(".", "")
        if word:
            found.append(Token(word, opens, match.start(), match.end()))
    return found


def names_and_numbers(text: str) -> list[Token]:
    """The tokens of ``text`` that are names or numbers, in order."""
    return [t for t in tokens(text) if t.is_name or t.is_number]
