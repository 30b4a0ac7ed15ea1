"""Whole-article summaries: one call when the article fits the context, map-reduce otherwise.

Map: summarise consecutive groups of chunks that fit the context. Reduce: summarise the
partial summaries, repeating until one call suffices. Only the final call streams.
"""

from __future__ import annotations

from collections.abc import Sequence

from config import Settings
from retrieval import prompts
from retrieval.llm import LLM, TokenCallback
from retrieval.store import StoredChunk

# Tokens kept free for the prompt's own words besides the article text.
_PROMPT_OVERHEAD = 64


def _budget(llm: LLM, settings: Settings) -> int:
    return max(128, settings.llm.n_ctx - settings.llm.summary_max_tokens - _PROMPT_OVERHEAD)


def _groups(texts: Sequence[str], llm: LLM, budget: int) -> list[str]:
    groups: list[list[str]] = [[]]
    used = 0
    for text in texts:
        cost = llm.count_tokens(text) + 2
        if groups[-1] and used + cost > budget:
            groups.append([])
            used = 0
        groups[-1].append(text)
        used += cost
    return ["\n\n".join(g) for g in groups if g]


def _summarise_once(llm: LLM, settings: Settings, title: str, text: str, length: str,
                    on_token: TokenCallback | None) -> str:
    max_tokens = settings.llm.summary_max_tokens
    if llm.prompt_style() == "completion":
        result = llm.complete(prompts.summary_completion_prompt(title, text, length),
                              max_tokens=max_tokens, stop=["\n\n", "Article:"], on_token=on_token)
    else:
        result = llm.chat(prompts.summary_messages(title, text, length), max_tokens=max_tokens,
                          on_token=on_token)
    return " ".join(result.text.split())


def summarize_text(llm: LLM, settings: Settings, title: str, chunks: Sequence[StoredChunk],
                   length: str, on_token: TokenCallback | None) -> str:
    budget = _budget(llm, settings)
    # Chunks of one paragraph are re-joined so the model reads paragraphs, not fragments.
    paragraphs: dict[int, list[str]] = {}
    for chunk in chunks:
        paragraphs.setdefault(chunk.paragraph, []).append(chunk.text)
    texts = [" ".join(parts) for _, parts in sorted(paragraphs.items())]
    groups = _groups(texts, llm, budget)
    while len(groups) > 1:
        partial = [_summarise_once(llm, settings, title, g, "short", None) for g in groups]
        regrouped = _groups(partial, llm, budget)
        if len(regrouped) >= len(groups):  # no progress: cut rather than loop forever
            regrouped = regrouped[:1]
        groups = regrouped
    summary = _summarise_once(llm, settings, title, groups[0] if groups else "", length,
                              on_token)
    return summary or "The model produced no summary for this article."
