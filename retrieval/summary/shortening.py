"""Shorten one article sentence with the model, and keep the result only if it is faithful.

The model sees one sentence at a time (a base model gets worked examples and a ``Short:``
cue; a chat model an instruction), so it has nothing to paraphrase but that sentence. Its
output is kept when every name and number in it occurs in the sentence, most of its content
words do too, it is a real shortening and it does not repeat the title; otherwise the
sentence itself is kept, trimmed. Either way the point says only what the article says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.llm import LLM, Message
from retrieval.summary import faithfulness as fa

# Invented examples (no eval article). A 270M base model mostly copies its input, so the
# examples shorten by deleting (words kept in order, asides and attributions dropped): a
# shape it can follow without making things up.
_EXAMPLES = (
    "Shorten each sentence from a news article by leaving out the less important words. "
    "Keep its names and numbers. Add nothing.\n\n"
    "Sentence: The city council of Riverton voted 7-2 on Tuesday night to approve a $4.5m "
    "plan to rebuild the old harbour bridge, which has been closed to lorries since last "
    "spring.\n"
    "Short: Riverton's council voted 7-2 to approve a $4.5m plan to rebuild the harbour "
    "bridge.\n\n"
    "Sentence: Shares in the carmaker Volta fell 12% in early trading after the firm warned "
    "that a shortage of chips would cut its output by a third this year, its chief "
    "executive, Ana Ruiz, said.\n"
    "Short: Volta shares fell 12% after it warned a chip shortage would cut output by a "
    "third.\n\n"
    "Sentence: \"We have never seen demand like this before,\" said Sarah Ellis, who runs the "
    "Greenway food bank in Leeds, adding that the number of families it helped had doubled "
    "since March.\n"
    "Short: The Greenway food bank in Leeds says the families it helps have doubled since "
    "March.\n\n"
)

_SYSTEM = ("You shorten sentences from news articles. Keep the names and numbers exactly as "
           "written, add nothing that the sentence does not say, and reply with the shortened "
           "sentence only.")

_CONNECTIVE = re.compile(
    r"^(?:but|and|so|also|however|meanwhile|moreover|furthermore|in addition|yet|still|"
    r"instead|indeed)\b,?\s+", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[,;:–—]\s|\s-\s")


@dataclass(frozen=True)
class Shortening:
    min_words: int  # sentences shorter than this are kept whole, without a model call
    max_words: int  # a kept sentence longer than this is trimmed
    min_content_share: float
    max_tokens: int  # the most the model may write for one sentence


def completion_prompt(sentence: str) -> str:
    return f"{_EXAMPLES}Sentence: {sentence}\nShort:"


def chat_messages(sentence: str) -> list[Message]:
    return [{"role": "system", "content": _SYSTEM},
            {"role": "user", "content": f"Shorten this sentence:\n\n{sentence}"}]


def tidy(text: str) -> str:
    """One line, no wrapping quotes, a capital first letter and a full stop at the end."""
    text = " ".join(text.split()).strip()
    if len(text) > 1 and text[0] in "\"“" and text[-1] in "\"”" and text.count('"') <= 2:
        text = text[1:-1].strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    if text[-1] not in ".!?\"”’'…":
        text += "."
    return text


def trim(sentence: str, max_words: int) -> str:
    """The sentence without a leading connective ("But", "However,"), cut after a clause
    when it is longer than ``max_words`` (an ellipsis marks a cut)."""
    text = _CONNECTIVE.sub("", sentence.strip()) or sentence.strip()
    words = text.split()
    if len(words) > max_words:
        head = " ".join(words[:max_words])
        cuts = [m.start() for m in _CLAUSE_END.finditer(head)
                if len(head[: m.start()].split()) >= max_words * 0.5]
        head = head[: cuts[-1]] if cuts else head
        text = head.rstrip(" ,;:-–—") + " …"
    return tidy(text)


def acceptable(candidate: str, sentence: str, title: str, min_content_share: float) -> bool:
    words = candidate.split()
    return (
        len(words) >= 4
        and len(words) <= 0.9 * len(sentence.split())
        and fa.is_supported(candidate, sentence, min_content_share)
        and not fa.echoes_title(candidate, title)
    )


def shorten(llm: LLM, sentence: str, title: str, rules: Shortening) -> tuple[str, bool]:
    """(the point's text, whether it is the model's shortening)."""
    words = len(sentence.split())
    if words < rules.min_words or words > 3 * rules.max_words:  # short enough; or run-on text
        return trim(sentence, rules.max_words), False
    # A "shortening" as long as the sentence is worthless: stop the model well before that.
    budget = min(rules.max_tokens, int(0.75 * llm.count_tokens(sentence)))
    if llm.prompt_style() == "completion":
        result = llm.complete(completion_prompt(sentence), max_tokens=budget, stop=["\n"])
    else:
        result = llm.chat(chat_messages(sentence), max_tokens=budget)
    candidate = tidy(result.text)
    if (result.finish_reason != "length" and len(candidate.split()) <= rules.max_words
            and acceptable(candidate, sentence, title, rules.min_content_share)):
        return candidate, True
    return trim(sentence, rules.max_words), False
