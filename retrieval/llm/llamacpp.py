"""A GGUF run in-process by llama.cpp: one model, one lock (llama.cpp is not re-entrant)."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Literal

from retrieval.errors import ModelError
from retrieval.llm.interface import Completion, Message, PromptStyle, TokenCallback, collect
from retrieval.llm.repacking import resolve_weight_repacking

log = logging.getLogger(__name__)

@cache
def _route_llama_logs() -> Any:
    """Send llama.cpp's own log lines to Python logging (debug) instead of raw stderr.

    llama.cpp has one log hook per process: this runs once, and the cache keeps the callback
    alive for as long as C holds its pointer."""
    import ctypes

    import llama_cpp

    llama_log = logging.getLogger("llama_cpp")

    def forward(level: int, text: bytes, user_data: Any) -> None:
        llama_log.debug("%s", text.decode("utf-8", "replace").rstrip())

    callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return callback


def llama_class(repack_weights: bool) -> Any:
    """``llama_cpp.Llama`` with llama.cpp's weight repacking (its "extra buffer types") on or
    off. ``Llama()`` takes no argument for it, so the subclass sets the field on the model
    parameters the moment ``Llama.__init__`` creates them, before the model is loaded."""
    from llama_cpp import Llama, llama_model_params

    if not repack_weights and "use_extra_bufts" not in {f[0] for f in llama_model_params._fields_}:
        raise ModelError("This llama-cpp-python cannot turn weight repacking off; "
                         "upgrade it (pip install -U llama-cpp-python).")

    class RepackingLlama(Llama):
        @property
        def model_params(self) -> Any:
            return self._articlebot_model_params

        @model_params.setter
        def model_params(self, params: Any) -> None:
            params.use_extra_bufts = repack_weights
            self._articlebot_model_params = params

    return RepackingLlama


class LlamaCppLLM:
    def __init__(
        self, model_path: Path, *, n_ctx: int = 2048, n_threads: int = 0, n_gpu_layers: int = 0,
        temperature: float = 0.0, style: Literal["auto", "completion", "chat"] = "auto",
        repack_weights: bool | None = None,
    ):
        self.path = model_path
        # False on CPUs where llama.cpp's AMX repacking crashes (see retrieval.llm.repacking);
        # None decides for this machine, as llm.repack_weights = "auto" does.
        self.repack_weights = (resolve_weight_repacking("auto") if repack_weights is None
                               else repack_weights)
        self.name = model_path.name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.n_gpu_layers = n_gpu_layers
        self.temperature = temperature
        self._style = style
        self._llama: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> Any:
        if self._llama is None:
            try:
                _route_llama_logs()
                self._llama = llama_class(self.repack_weights)(
                    model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                    n_gpu_layers=self.n_gpu_layers, verbose=False,
                )
            except Exception as exc:
                raise ModelError(f"Could not load the model {self.path}: {exc}") from exc
            # Free the model before interpreter teardown: llama.cpp's own finaliser runs too
            # late then and prints a TypeError at every exit.
            atexit.register(self.close)
            log.info("LLM %s loaded (threads=%d, gpu_layers=%d, gpu_offload=%s, repacking=%s)",
                     self.name, self.n_threads, self.n_gpu_layers, self.gpu_offload,
                     self.repack_weights)
        return self._llama

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    @property
    def gpu_offload(self) -> bool:
        try:
            from llama_cpp import llama_supports_gpu_offload

            return bool(llama_supports_gpu_offload()) and self.n_gpu_layers != 0
        except ImportError:
            return False

    @property
    def chat_template(self) -> str | None:
        self.load()
        template = self._llama.metadata.get("tokenizer.chat_template")
        return str(template) if template else None

    def prompt_style(self) -> PromptStyle:
        if self._style != "auto":
            return self._style
        return "chat" if self.chat_template else "completion"

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._llama.tokenize(text.encode(), add_bos=False, special=False))

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (),
                 on_token: TokenCallback | None = None) -> Completion:
        with self._lock:
            llama = self._load_locked()
            try:
                stream = llama.create_completion(
                    prompt, max_tokens=max_tokens, stop=list(stop),
                    temperature=self.temperature, stream=True,
                )
                return collect(((c["choices"][0]["text"], c["choices"][0].get("finish_reason"))
                                 for c in stream), on_token)
            except (RuntimeError, ValueError) as exc:  # llama.cpp decode failures
                raise ModelError(f"The model failed while answering ({exc}).") from exc

    def complete_within(self, prompt: str, phrases: Sequence[str], *, max_tokens: int,
                        on_token: TokenCallback | None = None) -> Completion:
        """Greedy completion in which every token continues one of ``phrases`` and the
        answer ends (a newline) only where a phrase ends (``retrieval.llm.constrained``)."""
        from llama_cpp import LogitsProcessorList

        from retrieval.llm.constrained import build_trie, constrain_to

        with self._lock:
            llama = self._load_locked()

            def tokenize(text: str) -> list[int]:
                return list(llama.tokenize(text.encode(), add_bos=False, special=False))

            trie = build_trie(phrases, tokenize, tokenize("\n")[-1])
            try:
                stream = llama.create_completion(
                    prompt, max_tokens=max_tokens, stop=["\n"], temperature=0.0,
                    stream=True, logits_processor=LogitsProcessorList([constrain_to(trie)]),
                )
                return collect(((c["choices"][0]["text"], c["choices"][0].get("finish_reason"))
                                 for c in stream), on_token)
            except (RuntimeError, ValueError) as exc:
                raise ModelError(f"The model failed while answering ({exc}).") from exc

    def chat(self, messages: list[Message], *, max_tokens: int, stop: Sequence[str] = (),
             on_token: TokenCallback | None = None) -> Completion:
        with self._lock:
            llama = self._load_locked()
            try:
                stream = llama.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, stop=list(stop) or None,
                    temperature=self.temperature, stream=True,
                )
                return collect(((c["choices"][0]["delta"].get("content") or "",
                                  c["choices"][0].get("finish_reason")) for c in stream),
                                on_token)
            except (RuntimeError, ValueError) as exc:
                raise ModelError(f"The model failed while answering ({exc}).") from exc
