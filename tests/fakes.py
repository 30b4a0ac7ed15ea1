"""Deterministic test doubles for the two models, injected through ``Engine(embedder=, llm=)``.

``HashingEmbedder``: bag-of-words vectors (each word hashed to a few dimensions, then
L2-normalised), so texts that share words are near and others far, with no model load.
``QueuedLLM``: replies from a queue (or from a function of the prompt), streamed token by
token through ``on_token``; a queued exception is raised after the first tokens, as a model
server that breaks off mid-answer would. It can wrap a real model and pass through whenever
nothing is queued.
``ScriptedReader``: a trained reader's double that finds given phrases in what it reads.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from retrieval.answer.reader import Prior, Reading, Span, ranked
from retrieval.llm import LLM, Completion, Message, PromptStyle, TokenCallback

WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Unit vectors from hashed words: cosine ≈ shared vocabulary. Same text, same vector."""

    name = "hashing"
    device = "cpu"
    is_local = True  # no hub, no download

    def __init__(self, dimension: int = 384) -> None:
        self.dimension = dimension
        self.calls = 0

    def load(self) -> None:
        pass

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                for k in range(2):  # two buckets a word: fewer accidental collisions
                    bucket = int.from_bytes(digest[4 * k:4 * k + 4], "little")
                    out[row, bucket % self.dimension] += 1
            norm = float(np.linalg.norm(out[row]))
            if norm:
                out[row] /= norm
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def count_tokens(self, text: str) -> int:
        return max(1, len(text.split()))


Reply = str | BaseException | Callable[[str], str]


class QueuedLLM:
    """A completion-style (or chat) model whose answers the test queues.

    ``replies`` are used in order; each is a string, a function of the prompt, or an exception
    raised after streaming two words of ``partial``. With nothing queued it answers with
    ``default`` (a function of the prompt) or, when wrapping a real model, with that model.
    """

    def __init__(self, *replies: Reply, style: PromptStyle = "completion",
                 default: Callable[[str], str] | None = None, real: LLM | None = None,
                 partial: str = "He Li", pause_s: float = 0.0,
                 token_pause_s: float = 0.0) -> None:
        self.name = f"queued:{real.name}" if real is not None else "queued"
        self.queue: deque[Reply] = deque(replies)
        self.style = style
        self.default = default
        self.real = real
        self.partial = partial
        self.pause_s = pause_s  # before raising: lets a streaming adapter show the tokens
        self.token_pause_s = token_pause_s  # after each streamed token: a slow model
        self.prompts: list[str] = []
        self.failed = threading.Event()
        self._lock = threading.Lock()

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.queue.extend(replies)

    def load(self) -> None:
        if self.real is not None:
            self.real.load()

    def prompt_style(self) -> PromptStyle:
        return self.style

    def count_tokens(self, text: str) -> int:
        return self.real.count_tokens(text) if self.real is not None else len(text.split())

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (),
                 on_token: TokenCallback | None = None, **kwargs: Any) -> Completion:
        return self._answer(prompt, "complete", prompt, max_tokens, stop, on_token)

    def chat(self, messages: list[Message], *, max_tokens: int, stop: Sequence[str] = (),
             on_token: TokenCallback | None = None) -> Completion:
        text = "\n".join(m["content"] for m in messages)
        return self._answer(text, "chat", messages, max_tokens, stop, on_token)

    def complete_within(self, prompt: str, phrases: Sequence[str], *, max_tokens: int,
                        on_token: TokenCallback | None = None) -> Completion:
        """Constrained decoding (``retrieval.llm.constrained``): the real model's when it has
        one and nothing is queued, else the queued reply or, without one, the first phrase."""
        with self._lock:
            queued = bool(self.queue)
        if not queued and self.real is not None and hasattr(self.real, "complete_within"):
            result: Completion = self.real.complete_within(
                prompt, phrases, max_tokens=max_tokens, on_token=on_token)
            return result
        if not queued and self.default is None and self.real is None:
            return self._stream(phrases[0] if phrases else "", on_token)
        return self._answer(prompt, "complete", prompt, max_tokens, ("\n",), on_token)

    def _answer(self, text: str, method: str, request: Any, max_tokens: int,
                stop: Sequence[str], on_token: TokenCallback | None) -> Completion:
        with self._lock:
            self.prompts.append(text)
            reply = self.queue.popleft() if self.queue else None
        if reply is None and self.real is not None:
            result: Completion = getattr(self.real, method)(
                request, max_tokens=max_tokens, stop=stop, on_token=on_token)
            return result
        if reply is None:
            reply = self.default(text) if self.default is not None else ""
        if isinstance(reply, BaseException):
            self._stream(self.partial, on_token)
            time.sleep(self.pause_s)
            self.failed.set()
            raise reply
        if callable(reply):
            reply = reply(text)
        return self._stream(reply, on_token)

    def _stream(self, text: str, on_token: TokenCallback | None) -> Completion:
        pieces = re.findall(r"\s*\S+", text)
        first = None
        started = time.perf_counter()
        for piece in pieces:
            if on_token is not None:
                on_token(piece)
                time.sleep(self.token_pause_s)
            first = first if first is not None else time.perf_counter() - started
        return Completion(text, len(pieces), time.perf_counter() - started, first, "stop")


class ScriptedReader:
    """Finds the given phrases (best first) in the passages; "no answer" scores ``no_answer``."""

    def __init__(self, *phrases: str, no_answer: float = 0.0,
                 answerable: float | None = None) -> None:
        self.phrases = phrases
        self.no_answer = no_answer
        self.answerable = answerable
        self.read_texts: list[list[str]] = []
        self.priors: list[dict[str, float]] = []  # each span's prior, by its text

    def read(self, question: str, texts: Sequence[str], top_n: int = 3,
             prior: Prior | None = None) -> Reading:
        self.read_texts.append(list(texts))
        spans = []
        for rank, phrase in enumerate(self.phrases):
            for i, text in enumerate(texts):
                at = text.find(phrase)
                if at >= 0:
                    spans.append(Span(i, at, at + len(phrase), phrase, 10.0 - rank))
                    break
        self.priors.append({s.text: prior(s) for s in spans} if prior is not None else {})
        return ranked(Reading(spans[:top_n], self.no_answer,
                              self.answerable if spans else None), prior)
