"""What the answer path makes of the trained reader's spans.

The reader says whether the passages answer the question (its margin against the
calibrated ``reader.min_margin``) and where (its best spans). A base model may then choose
among those spans (``reader.answer_by = "llm"``), reading only the sentences that hold them;
a chat model writes its sentence from the best span's sentence. Either way the citation
quotes the sentence that holds the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from retrieval.answer.reader import Span

__all__ = ["Span", "choice_context", "chosen_span", "evidence_passage", "sentence_of"]
from retrieval.text.sentences import sentence_around
from retrieval.types import Passage


def sentence_of(passage: Passage, span: Span) -> tuple[int, int]:
    """The character range of the sentence of ``passage`` that holds ``span`` (widened to
    the span's end when the span runs past it)."""
    return sentence_around(passage.text, span.start, span.end)


def evidence_passage(passage: Passage, span: Span) -> Passage:
    """The sentence holding the answer, as the one passage a chat model reads."""
    start, end = sentence_of(passage, span)
    return replace(passage, text=passage.text[start:end].strip(),
                   start=passage.start + start, end=passage.start + end)


def choice_context(spans: Sequence[Span], passages: Sequence[Passage]) -> str:
    """The sentences holding the candidate spans, one per line, the reader's best last
    (nearest the question: the prompt examples put the answer there)."""
    lines: list[str] = []
    for span in reversed(spans):
        start, end = sentence_of(passages[span.passage], span)
        line = " ".join(passages[span.passage].text[start:end].split())
        if line in lines:
            lines.remove(line)
        lines.append(line)
    return "\n".join(lines)


def chosen_span(text: str, spans: Sequence[Span]) -> Span:
    """The span the model's answer names (the reader's best when it names none)."""
    wanted = " ".join(text.split()).lower().strip(" .,;:\"'")
    for span in spans:
        if " ".join(span.text.split()).lower().strip(" .,;:\"'") == wanted:
            return span
    return spans[0]
