"""Turning a model's raw output and the passages into a grounded, cited answer.

Small base models answer from memory when the passages do not help ("Paris"), so an answer
counts only when its words are found in the passages; otherwise the engine abstains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from retrieval.answer.prompts import NOT_COVERED
from retrieval.answer.spans import asked_stems, find_verbatim, only_asked
from retrieval.text.sentences import split_sentences
from retrieval.text.words import STOPWORDS, bm25_tokens, stem
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


def echoes_the_question(text: str, question: str) -> bool:
    """An answer that only repeats the question's own words ("Which US administration?" →
    "the US administration"). Measured on news-qa: treating it as no answer (the extracted
    phrase replaces it) left F1 as it was and fixed such answers to sample-article questions;
    also requiring a number where the question asks "how many" cost 3 F1 on entities."""
    return only_asked(text, asked_stems(question))


def is_refusal(text: str) -> bool:
    lowered = text.lower()
    return not text or NOT_COVERED.lower() in lowered or lowered in {
        "unknown", "none", "n/a", "no answer", "not mentioned", "not stated"}


def verbatim_form(answer: str, passages: Sequence[Passage]) -> str:
    """``answer`` as the passages spell it: a generated "in Beijing" whose words are in the
    passages but not in that order becomes "Beijing" when the passages hold that, so the
    answer and its citation quote the same words. Otherwise ``answer`` unchanged."""
    places = [(p, 0, len(p.text)) for p in passages]
    if find_verbatim(answer, places) is not None:
        return answer
    words = answer.split()
    while len(words) > 1 and words[0].lower().strip("\"'“‘(") in STOPWORDS:
        words = words[1:]
        shorter = " ".join(words)
        if find_verbatim(shorter, places) is not None:
            return shorter
    return answer


def _words(text: str) -> list[str]:
    return bm25_tokens(text)


def _supported(word: str, vocabulary: set[str], stems: set[str]) -> bool:
    """A passage word supports an answer word with the same stem ("talk" by "talks", "resign"
    by "resigned"); a number only itself or its plural ("1950" by "the 1950s"), never a
    longer number ("2" or "20" are not supported by "2024")."""
    if word in vocabulary:
        return True
    if word.isdigit():
        return f"{word}s" in vocabulary
    return stem(word) in stems


def grounding(answer: str, passages: Sequence[Passage]) -> float:
    """Share of the answer's content words that occur in the passages.

    An answer of stop words only ("No", "It was") grounds nothing: 0.0.
    """
    words = _words(_CITATION_MARK.sub(" ", answer))
    if not words:
        return 0.0
    vocabulary = set(_words(" ".join(p.text for p in passages)))
    stems = {stem(w) for w in vocabulary}
    return sum(_supported(w, vocabulary, stems) for w in words) / len(words)


def _quote(text: str, start: int, end: int, limit: int) -> str:
    """``text[start:end]``, cut to ``limit`` characters."""
    sentence = text[start:end].strip()
    if len(sentence) <= limit:
        return sentence
    return sentence[: limit - 1].rstrip() + "…"


def _sentence_around(passage: Passage, offset: int, length: int, limit: int) -> str:
    """The sentence of ``passage`` that holds the characters ``offset`` .. ``offset+length``,
    cut so that the answer stays inside the quote."""
    text = passage.text
    spans = split_sentences(text) or [(0, len(text))]
    start, end = next(((s, e) for s, e in spans if s <= offset < e), spans[0])
    end = max(end, min(len(text), offset + length))
    if end - start <= limit:
        return text[start:end].strip()
    # Keep the answer visible: start the window shortly before it, and never so early that
    # the answer's end falls outside (two characters go to the ellipses).
    room = limit - 2
    lead = max(start, min(offset - limit // 3, end - room, offset + length - room))
    tail = min(end, lead + room)
    window = text[lead:tail].strip()
    return ("…" if lead > start else "") + window + ("…" if tail < end else "")


def _best_sentence(passage: Passage, probe: set[str], limit: int) -> str:
    spans = split_sentences(passage.text) or [(0, len(passage.text))]
    start, end = max(spans, key=lambda se: len(probe & set(_words(passage.text[se[0]:se[1]]))))
    return _quote(passage.text, start, end, limit)


def _citation(passage: Passage, quote: str) -> Citation:
    return Citation(passage.article_id, passage.title, passage.paragraph, quote,
                    round(passage.dense, 4))


def cite_span(passage: Passage, offset: int, length: int, quote_chars: int) -> Citation:
    """The citation of an answer copied from ``passage`` at ``offset``: its sentence."""
    return _citation(passage, _sentence_around(passage, offset, length, quote_chars))


def cite(
    answer: str, question: str, passages: Sequence[Passage], quote_chars: int
) -> list[Citation]:
    """Citations from where the answer actually is, never from brackets in the text.

    The passage that holds the answer verbatim, quoting the sentence around it; otherwise the
    passage sharing most of the answer's words, quoting its best-matching sentence. A "[2]"
    in the model's output (or copied from an article) chooses nothing.
    """
    plain = " ".join(_CITATION_MARK.sub(" ", answer).split())
    found = find_verbatim(plain, ((p, 0, len(p.text)) for p in passages))
    if found is not None:
        passage, at = found
        return [cite_span(passage, at, len(plain), quote_chars)]
    answer_words = set(_words(plain))
    overlap = [(len(answer_words & set(_words(p.text))), i) for i, p in enumerate(passages)]
    best = max((n for n, _ in overlap), default=0)
    chosen = [passages[i] for n, i in overlap if n == best and n > 0][:1] or list(passages[:1])
    probe = answer_words or set(_words(question))
    return [_citation(p, _best_sentence(p, probe, quote_chars)) for p in chosen]
