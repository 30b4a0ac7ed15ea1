"""Whole-article summaries, map-reduced over the article's chunks.

``short``: one TL;DR of the article. When the article does not fit the context, each part
that fits is summarised (map) and the part summaries are summarised again (reduce), until
one call suffices. ``long``: the article is cut into up to ``_LONG_SECTIONS`` consecutive
sections and each gets its own line, so the summary follows the article and a small model
has no chance to repeat itself. Only the calls whose text the user sees are streamed.
"""

from __future__ import annotations

from collections.abc import Sequence

from config import Settings
from retrieval import prompts
from retrieval.llm import LLM, TokenCallback
from retrieval.store import StoredChunk

_PROMPT_OVERHEAD = 64  # tokens for the prompt's own words besides the article text
_LONG_SECTIONS = 6
_SECTION_TOKENS = 400  # a section this long still gets a focused one-line summary


def _budget(settings: Settings) -> int:
    return max(128, settings.llm.n_ctx - settings.llm.summary_max_tokens - _PROMPT_OVERHEAD)


def _groups(texts: Sequence[str], llm: LLM, budget: int) -> list[str]:
    """Consecutive texts joined into as few groups as fit ``budget`` tokens each."""
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


def _trim_leading(on_token: TokenCallback | None) -> TokenCallback | None:
    """Forward tokens without the whitespace a model emits after its cue."""
    if on_token is None:
        return None
    started = False

    def forward(token: str) -> None:
        nonlocal started
        if not started:
            token = token.lstrip()
            started = bool(token)
        if token:
            on_token(token)

    return forward


def _one_line(llm: LLM, settings: Settings, title: str, text: str,
              on_token: TokenCallback | None) -> str:
    max_tokens = settings.llm.summary_max_tokens
    on_token = _trim_leading(on_token)
    if llm.prompt_style() == "completion":
        result = llm.complete(prompts.summary_completion_prompt(title, text),
                              max_tokens=max_tokens, stop=["\n"], on_token=on_token)
    else:
        result = llm.chat(prompts.summary_messages(title, text), max_tokens=max_tokens,
                          on_token=on_token)
    return " ".join(result.text.split())


def _paragraph_texts(chunks: Sequence[StoredChunk]) -> list[str]:
    # Chunks of one paragraph are re-joined so the model reads paragraphs, not fragments.
    paragraphs: dict[int, list[str]] = {}
    for chunk in chunks:
        paragraphs.setdefault(chunk.paragraph, []).append(chunk.text)
    return [" ".join(parts) for _, parts in sorted(paragraphs.items())]


def _short(llm: LLM, settings: Settings, title: str, texts: list[str],
           on_token: TokenCallback | None) -> str:
    budget = _budget(settings)
    groups = _groups(texts, llm, budget)
    while len(groups) > 1:
        partial = [_one_line(llm, settings, title, g, None) for g in groups]
        regrouped = _groups(partial, llm, budget)
        if len(regrouped) >= len(groups):  # no progress: keep what fits rather than loop
            regrouped = regrouped[:1]
        groups = regrouped
    return _one_line(llm, settings, title, groups[0] if groups else "", on_token)


def _long(llm: LLM, settings: Settings, title: str, texts: list[str],
          on_token: TokenCallback | None) -> str:
    total = sum(llm.count_tokens(t) for t in texts)
    section = max(total // _LONG_SECTIONS + 1, min(_SECTION_TOKENS, total // 2 + 1))
    lines: list[str] = []
    for group in _groups(texts, llm, min(section, _budget(settings))):
        if on_token is not None:
            on_token("\n- " if lines else "- ")
        line = _one_line(llm, settings, title, group, on_token)
        if line and line.casefold() not in {seen.casefold() for seen in lines}:
            lines.append(line)
    return "\n".join(f"- {line}" for line in lines)


def summarize_text(llm: LLM, settings: Settings, title: str, chunks: Sequence[StoredChunk],
                   length: str, on_token: TokenCallback | None) -> str:
    texts = _paragraph_texts(chunks)
    make = _long if length == "long" else _short
    summary = make(llm, settings, title, texts, on_token)
    return summary or "The model produced no summary for this article."
