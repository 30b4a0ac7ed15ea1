"""Prompt building: a completion-style prompt for base models, chat messages for instruct ones.

The completion prompt starts with constant worked examples, so llama.cpp reuses its KV cache
for that prefix on every question (reading the prompt dominates latency on a CPU). Measured
with ``articlebot eval`` on the packaged Gemma 3 270M base model: three short SQuAD-like
examples instead of one (F1 +7), no article titles inside the passage text (the model
echoed them as answers) and the best passage last, nearest the question (F1 +6 over first).
Six news-like examples in readers' own words before those three: F1 +5 on news-qa (one
article per collection) and +6 on SQuAD.
"""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.llm import Message
from retrieval.types import Passage, Turn

NOT_COVERED = "NOT IN ARTICLES"

_EXAMPLE = (
    "Answer each question with the shortest phrase copied from its passage.\n\n"
    # News-like examples in readers' own words: a reason, an entity, a number with its unit,
    # a role ("Who is X?"), a place and an event each show the phrase to copy.
    "Passage: The city council said on Tuesday that the new bridge over the river Tay would "
    "cost £45m and open in 2027. Council leader Mary Byrne said the delay was caused by a "
    "shortage of steel.\n"
    "Question: Why has the bridge been delayed?\n"
    "Answer: a shortage of steel\n\n"
    "Passage: Striker Tom Ellis, 24, joined Hartford United from Dunmore Rovers for an "
    "undisclosed fee. He scored 19 goals last season.\n"
    "Question: Which club did the striker leave?\n"
    "Answer: Dunmore Rovers\n\n"
    "Passage: Shares in the carmaker fell 6% after it recalled 80,000 vans in Germany "
    "because of faulty brakes.\n"
    "Question: How many vehicles were recalled?\n"
    "Answer: 80,000 vans\n\n"
    "Passage: Ana Ruiz, the bank's chief economist, told reporters that interest rates would "
    "stay on hold until the spring.\n"
    "Question: Who is Ana Ruiz?\n"
    "Answer: the bank's chief economist\n\n"
    "Passage: Talks between the two unions will be held in Geneva next week, the ministry "
    "announced.\n"
    "Question: In which city will the unions meet?\n"
    "Answer: Geneva\n\n"
    "Passage: After months of losses, the airline said it would cut 300 jobs and close its "
    "base in Leeds, blaming high fuel prices.\n"
    "Question: What has the airline decided to do about its Leeds base?\n"
    "Answer: close its base in Leeds\n\n"
    # Encyclopedia-like examples: questions that reuse the passage's wording.
    "Passage: The Eiffel Tower was completed in March 1889 as the entrance arch to the "
    "World's Fair in Paris. It was designed by the company of Gustave Eiffel.\n"
    "Question: Whose company designed the Eiffel Tower?\n"
    "Answer: Gustave Eiffel\n\n"
    "Passage: Marie Curie shared the 1903 Nobel Prize in Physics with Pierre Curie and Henri "
    "Becquerel for their research on radiation.\n"
    "Question: Who shared the 1903 Nobel Prize with Marie Curie?\n"
    "Answer: Pierre Curie and Henri Becquerel\n\n"
    "Passage: The Amazon river carries more water than any other river, about 209,000 cubic "
    "metres per second, because of the heavy rainfall in its basin.\n"
    "Question: Why does the Amazon carry so much water?\n"
    "Answer: the heavy rainfall in its basin\n\n"
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
    """Examples, then the passages as one block with the best one last, then the question."""
    return completion_prompt_from(question, "\n".join(p.text for p in reversed(passages)),
                                  history)


def completion_prompt_from(question: str, context: str, history: Sequence[Turn]) -> str:
    """The same prompt around ready-made context text (the reader's chosen sentences); the
    earlier turns stand between the passages and the question, in the examples' shape."""
    earlier = "".join(f"Question: {t.question}\nAnswer: {t.answer}\n" for t in history)
    return f"{_EXAMPLE}Passage: {context}\n{earlier}Question: {question}\nAnswer:"


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
