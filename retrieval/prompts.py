"""Prompt building: a completion-style prompt for base models, chat messages for instruct ones.

The completion prompt starts with a constant worked example, so llama.cpp reuses its KV cache
for that prefix on every question (reading the prompt dominates latency on a CPU).
"""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.llm import Message
from retrieval.types import Passage, Turn

NOT_COVERED = "NOT IN ARTICLES"

_EXAMPLE = (
    "Read the passages and answer the question with a short phrase copied from them.\n\n"
    "Passage: The Eiffel Tower was completed in March 1889 as the entrance arch to the "
    "World's Fair in Paris. It was designed by the company of Gustave Eiffel.\n"
    "Question: Whose company designed the Eiffel Tower?\n"
    "Answer: Gustave Eiffel\n\n"
)

_SYSTEM = (
    "You answer questions about news articles using only the numbered passages the user "
    "gives you. Answer in one or two sentences and cite the passages you used like [1]. "
    f"If the passages do not contain the answer, reply exactly: {NOT_COVERED}"
)


def _passage_block(passages: Sequence[Passage], numbered: bool) -> str:
    lines = []
    for number, passage in enumerate(passages, 1):
        label = f"[{number}] " if numbered else ""
        lines.append(f"Passage: {label}({passage.title}) {passage.text}")
    return "\n".join(lines)


def completion_prompt(question: str, passages: Sequence[Passage], history: Sequence[Turn]) -> str:
    earlier = "".join(f"Question: {t.question}\nAnswer: {t.answer}\n" for t in history)
    return f"{_EXAMPLE}{_passage_block(passages, False)}\n{earlier}Question: {question}\nAnswer:"


def chat_messages(question: str, passages: Sequence[Passage], history: Sequence[Turn]
                  ) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": _SYSTEM}]
    for turn in history:
        messages.append({"role": "user", "content": turn.question})
        messages.append({"role": "assistant", "content": turn.answer})
    messages.append({
        "role": "user",
        "content": f"{_passage_block(passages, True)}\n\nQuestion: {question}",
    })
    return messages


def summary_completion_prompt(title: str, text: str) -> str:
    # "TL;DR:" is the cue a base model has seen most before a one-line summary.
    return f"Article: {title}\n{text}\n\nTL;DR:"


def summary_messages(title: str, text: str) -> list[Message]:
    return [
        {"role": "system", "content": "You summarise news articles faithfully and plainly."},
        {"role": "user", "content": "Summarise this text in one or two sentences.\n\n"
                                    f"Title: {title}\n\n{text}"},
    ]
