"""Where in the passages the answer is: sentence selection and candidate answer spans.

A 270M base model picks a good span from one short, right sentence far more often than from
two whole passages, so the answer path first finds the sentences most likely to hold the
answer, then lets the model choose among spans copied from them. Everything here is plain
text processing: rules, no model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from retrieval.text.names import (
    CALENDAR,
    MONTH_ABBREVIATIONS,
    MONTHS,
    NUMBER_WORDS,
    TITLES,
    WEEKDAYS,
)
from retrieval.text.sentences import split_sentences
from retrieval.text.words import STOPWORDS, bm25_tokens, stem
from retrieval.types import Passage

AnswerType = str  # "number", "date", "person", "place", "reason" or "" (anything)

_TYPE_RULES: list[tuple[re.Pattern[str], AnswerType]] = [
    (re.compile(r"\b(what|which) (year|date|day|month|time)\b|\bwhen\b|\bhow long ago\b"),
     "date"),
    (re.compile(r"\bhow (many|much|long|big|large|old|far|often|high|low|fast|tall|deep)\b|"
                r"\b(what|which) (percentage|proportion|share|number|amount|figure|price|"
                r"sum|score|rate|age|total|size|margin)\b|\bby how\b"), "number"),
    (re.compile(r"\bwhere\b|\b(what|which) (country|city|town|country's|region|place|venue|"
                r"state|capital|stadium|location|nation|area)\b|\bin which\b"), "place"),
    (re.compile(r"\bwho\b|\bwhom\b|\bwhose\b|\b(what|which) (company|firm|person|man|woman|"
                r"player|team|club|group|band|film|organisation|organization|party|body|"
                r"official|minister|executive|singer|actor|actress|director|brand|network|"
                r"channel|broadcaster|department|newspaper|airline|bank|name|chain|"
                r"manufacturer|maker|retailer|side)\b"), "person"),
    (re.compile(r"\bwhy\b|\bhow come\b|\bwhat (caused|led|prompted|made|is behind)\b|"
                r"\bfor what reason\b|\bwhat reason\b"), "reason"),
]

_MONTHS = [*MONTHS, *MONTH_ABBREVIATIONS]
# Longest first, so that an alternation never stops at a shorter word's prefix.
_NUMBER_WORDS = sorted(NUMBER_WORDS, key=lambda w: (-len(w), w))
# After a number, its unit ("%", "bn") and the word it counts ("80,000 vans"), never a stop word.
_UNIT = (r"(?:\s?(?:%|per ?cent\b|bn\b|m\b|k\b|billion\b|million\b|trillion\b|"
         r"thousand\b|hundred\b))?(?:\s+(?!(?:" + "|".join(sorted(STOPWORDS)) +
         r")\b)[a-z]{3,})?")
_NUMBER = re.compile(
    r"(?:(?:about|around|almost|nearly|over|more than|less than|some|just over|up to) )?"
    r"(?:[$£€¥]\s?)?\b\d[\d,.]*\d?" + _UNIT + "|"
    r"\b(?:" + "|".join(_NUMBER_WORDS) + r")(?:[\s-](?:" + "|".join(_NUMBER_WORDS) +
    r"))*\b" + _UNIT)
_DATE = re.compile(
    r"\b(?:\d{1,2}\s+)?(?:" + "|".join(_MONTHS) + r")\.?(?:\s+\d{1,2})?(?:,?\s+\d{4})?\b|"
    r"\b(?:in |since |by |until )?(?:1[5-9]|20)\d\d(?:s)?\b|"
    r"\b(?:" + "|".join(WEEKDAYS) + r")\b|"
    r"\b(?:last|next|this) (?:week|month|year|season|summer|winter|spring|autumn)\b",
    re.IGNORECASE)
_CAPITALISED = re.compile(
    r"\b[A-Z][\w'’.&/-]*(?:\s+(?:(?:of|the|de|for|and|&)\s+)?[A-Z0-9][\w'’.&/-]*)*")
# Capitalised only because they start a sentence, or not names at all.
_NOT_NAMES = (STOPWORDS | TITLES | CALENDAR | frozenset(MONTH_ABBREVIATIONS)) - {"may"}


def content_words(text: str) -> list[str]:
    """The words that carry content: an answer of none is no answer, and a phrase of only
    these and the question's words just echoes the question."""
    return bm25_tokens(text)


_BREAKS = re.compile(r"[,;:()\[\]\"“”]|[.!?](?:\s|$)|\s[-–—]\s")


def word_spans(text: str, max_words: int, skip_first: Callable[[str], bool] | None = None
               ) -> Iterable[str]:
    """Every run of 1..``max_words`` words of ``text`` that holds a content word and crosses
    no punctuation (commas, brackets, quotes, dashes, sentence ends): answers are phrases, not
    clauses stitched together. A run may start at a clause's first word only when
    ``skip_first`` says it is no filler ("He", "The", "It's" start no answer)."""
    for clause in _BREAKS.split(text):
        words = clause.split()
        for i in range(len(words)):
            if i == 0 and skip_first is not None and skip_first(words[0]):
                continue
            for j in range(i + 1, min(len(words), i + max_words) + 1):
                phrase = " ".join(words[i:j]).strip(" .!?'‘’")
                if phrase and content_words(phrase):
                    yield phrase


_REASON = re.compile(
    r"\b(?:because of|because|due to|as a result of|thanks to|after|since|amid|following|"
    r"so that|in order to|as|to)\b\s+(.+?)(?=[,;:.!?]\s|[.!?]?$)", re.IGNORECASE)


def asked_stems(question: str) -> set[str]:
    """The stems of the question's content words."""
    return {stem(w) for w in content_words(question)}


def only_asked(phrase: str, asked: set[str]) -> bool:
    """Whether ``phrase`` holds no content word beyond ``asked`` (``asked_stems``): it only
    repeats the question ("Which US administration?" → "the US administration")."""
    return all(stem(w) in asked for w in content_words(phrase))


def answer_type(question: str) -> AnswerType:
    """What kind of phrase the question asks for, from its question words ("" = unknown)."""
    lowered = question.lower()
    for pattern, kind in _TYPE_RULES:
        if pattern.search(lowered):
            return kind
    return ""


@dataclass(frozen=True)
class Sentence:
    passage: Passage
    start: int  # character offsets into ``passage.text``
    end: int
    rank: int  # the passage's rank in the search results

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]


@dataclass(frozen=True)
class Candidate:
    """A phrase copied from a sentence, with its place for the citation."""

    text: str
    sentence: Sentence
    start: int  # offset into ``sentence.passage.text``
    kind: AnswerType


def find_verbatim(answer: str, places: Iterable[tuple[Passage, int, int]]
                  ) -> tuple[Passage, int] | None:
    """The first of ``places`` (a passage and a character range of it) that holds ``answer``
    verbatim, case-insensitive: that passage and the answer's offset in its text."""
    needle = answer.strip().lower()
    if not needle:
        return None
    for passage, start, end in places:
        at = passage.text.lower().find(needle, start, end)
        if at >= 0:
            return passage, at
    return None


def sentences_of(passages: Sequence[Passage]) -> list[Sentence]:
    found: list[Sentence] = []
    for rank, passage in enumerate(passages):
        spans = split_sentences(passage.text) or [(0, len(passage.text))]
        found.extend(Sentence(passage, start, end, rank) for start, end in spans)
    return found


def _trim_name(phrase: str) -> str:
    words = phrase.split()
    while words and words[0].lower().strip("'’") in _NOT_NAMES:
        words.pop(0)
    return " ".join(words)


def candidates_in(sentence: Sentence, kind: AnswerType, question: str) -> list[Candidate]:
    """Phrases of ``kind`` in ``sentence`` that the question does not already name."""
    asked = asked_stems(question)
    patterns = {"number": [_NUMBER], "date": [_DATE, _NUMBER], "person": [_CAPITALISED],
                "place": [_CAPITALISED], "reason": [_REASON]}.get(kind, [])
    found: dict[str, Candidate] = {}
    text = sentence.passage.text
    for pattern in patterns:
        for match in pattern.finditer(text, sentence.start, sentence.end):
            group = 1 if pattern is _REASON else 0
            phrase = match.group(group).strip(" ,;:'\"“”‘’()")
            if pattern is _CAPITALISED:
                if text[sentence.start:match.start()].strip(" \"'“‘(") == "":
                    phrase = _trim_name(phrase)  # "The", "He" capitalised by the sentence
                phrase = phrase.rstrip(".'’")
                phrase = re.sub(r"['’]s$", "", phrase)
                if _DATE.fullmatch(phrase):
                    continue  # "May 2025" is a date, not a name
            if not phrase or phrase.lower() in found:
                continue
            if only_asked(phrase, asked):
                continue  # the question's own subject is not its answer
            at = text.find(phrase, match.start(group))
            found[phrase.lower()] = Candidate(phrase, sentence, at, kind)
    return list(found.values())


def rank_sentences(question: str, passages: Sequence[Passage],
                   weight: Callable[[str], float], kind: AnswerType = "",
                   type_bonus: float = 0.15, rank_penalty: float = 0.05) -> list[Sentence]:
    """The passages' sentences, the likeliest to hold the answer first.

    Score: the rarity-weighted share of the question's words the sentence has (stems
    compared), plus ``type_bonus`` when it holds a phrase of the asked-for type, minus
    ``rank_penalty`` per passage rank.
    """
    words = list(dict.fromkeys(stem(w) for w in bm25_tokens(question)))
    weights = {w: weight(w) for w in words}
    total = sum(weights.values()) or 1.0
    scored = []
    for sentence in sentences_of(passages):
        have = {stem(w) for w in bm25_tokens(sentence.text)}
        score = sum(weights[w] for w in words if w in have) / total
        if kind and type_bonus and candidates_in(sentence, kind, question):
            score += type_bonus
        scored.append((score - rank_penalty * sentence.rank, sentence))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    return [sentence for _, sentence in scored]
