"""The completion-style answer path: pick the sentences, then a phrase copied from them.

1. Rank the retrieved passages' sentences by how many of the question's rare words they
   share (``retrieval.answer.spans.rank_sentences``) and keep the best ``sentences``.
2. Prompt the base model with the worked examples and only those sentences (a short prompt:
   faster, and the 270M model picks spans far better in one right sentence than in two
   passages).
3. Let it answer, each token constrained to continue a phrase of those sentences
   (``retrieval.llm.constrained``): the phrases of the asked-for type when the question word says
   one (who → names, how many → numbers, when → dates, where → places) and the sentences
   have some, else any run of up to ``max_words`` words that is not just the question's
   own words.
The answer is then verbatim in a known sentence, which the citation quotes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.answer.spans import (
    AnswerType,
    Sentence,
    answer_type,
    asked_stems,
    candidates_in,
    find_verbatim,
    only_asked,
    rank_sentences,
    sentences_of,
    word_spans,
)
from retrieval.text.words import STOPWORDS
from retrieval.types import Passage

Weight = Callable[[str], float]

# Where-answers in news are as often "online", "in arcades" or "western Kenya" as a
# capitalised place name, so places get the plain phrases.
_TYPED = ("number", "date", "person")


@dataclass(frozen=True)
class ReadPlan:
    """What the model is shown and what it may answer."""

    kind: AnswerType
    sentences: list[Sentence]  # in prompt order (choose_sentences)
    phrases: list[str]


def _filler(word: str) -> bool:
    """A clause's first word that starts no answer: a capitalised function word."""
    return word.strip("\"'“‘(").lower().split("'")[0].split("’")[0] in STOPWORDS


def choose_sentences(question: str, passages: Sequence[Passage], weight: Weight, *,
                     sentences: int, type_match: bool) -> list[Sentence]:
    """What the model reads: the ``sentences`` sentences sharing most of the question's rare
    words (0 = all of them), in the article's order, the best passage's last."""
    if sentences > 0:
        kind = answer_type(question) if type_match else ""
        chosen = rank_sentences(question, passages, weight, kind)[:sentences]
    else:
        chosen = sentences_of(passages)
    return sorted(chosen, key=lambda s: (-s.rank, s.start))


def plan_reading(question: str, passages: Sequence[Passage], weight: Weight, *,
                 sentences: int, max_words: int, type_match: bool) -> ReadPlan:
    kind = answer_type(question)
    chosen = choose_sentences(question, passages, weight, sentences=sentences,
                              type_match=type_match)
    asked = asked_stems(question)
    phrases: list[str] = []
    if type_match and kind in (*_TYPED, "reason"):
        phrases = [c.text for s in chosen for c in candidates_in(s, kind, question)]
    if not phrases:
        limit = max_words * 2 if kind == "reason" else max_words
        phrases = [p for s in chosen for p in word_spans(s.text, limit, _filler)
                   if not only_asked(p, asked)]
    return ReadPlan(kind, chosen, list(dict.fromkeys(phrases)))


def locate(answer: str, sentences: Sequence[Sentence]) -> tuple[Passage, int] | None:
    """The passage and offset of ``answer`` in the prompt's sentences, best sentence first."""
    return find_verbatim(answer, ((s.passage, s.start, s.end) for s in reversed(sentences)))


def context_text(sentences: Sequence[Sentence]) -> str:
    """The sentences as the prompt shows them: one passage per line, the best one last."""
    lines: list[list[str]] = []
    previous = None
    for sentence in sentences:
        if sentence.passage is not previous:
            lines.append([])
            previous = sentence.passage
        lines[-1].append(" ".join(sentence.text.split()))
    return "\n".join(" ".join(line) for line in lines)
