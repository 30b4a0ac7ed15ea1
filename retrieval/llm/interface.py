"""What every language model offers: load, count tokens, complete or chat, streaming each
piece of text through an ``on_token`` callback as it arrives."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

TokenCallback = Callable[[str], None]
Message = dict[str, str]
PromptStyle = Literal["completion", "chat"]


@dataclass
class Completion:
    text: str
    tokens: int
    seconds: float
    first_token_s: float | None
    finish_reason: str | None = None


class LLM(Protocol):
    name: str

    def load(self) -> None: ...

    def prompt_style(self) -> PromptStyle: ...

    def count_tokens(self, text: str) -> int: ...

    def complete(
        self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (),
        on_token: TokenCallback | None = None,
    ) -> Completion: ...

    def chat(
        self, messages: list[Message], *, max_tokens: int, stop: Sequence[str] = (),
        on_token: TokenCallback | None = None,
    ) -> Completion: ...


@runtime_checkable
class ConstrainedLLM(Protocol):
    """A model that can decode constrained to given phrases (in-process llama.cpp)."""

    def complete_within(self, prompt: str, phrases: Sequence[str], *, max_tokens: int,
                        on_token: TokenCallback | None = None) -> Completion: ...


def collect(pieces: Iterator[tuple[str, str | None]], on_token: TokenCallback | None
             ) -> Completion:
    """Drain a stream of (text, finish_reason) pieces, timing it and forwarding the text."""
    started = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    finish: str | None = None
    for text, reason in pieces:
        if text:
            if first is None:
                first = time.perf_counter() - started
            parts.append(text)
            if on_token is not None:
                on_token(text)
        finish = reason or finish
    return Completion("".join(parts), len(parts), time.perf_counter() - started, first, finish)
