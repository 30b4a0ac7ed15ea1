"""A model behind any OpenAI-compatible server (llama.cpp server, vLLM, Ollama), streamed
over server-sent events."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from retrieval.errors import ModelError
from retrieval.llm.interface import Completion, Message, PromptStyle, TokenCallback, collect


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
        return collect(((e["choices"][0].get("text") or "", e["choices"][0].get("finish_reason"))
                         for e in events if e.get("choices")), on_token)

    def chat(self, messages: list[Message], *, max_tokens: int, stop: Sequence[str] = (),
             on_token: TokenCallback | None = None) -> Completion:
        body = {"model": self.name, "messages": messages, "max_tokens": max_tokens,
                "stop": list(stop) or None, "temperature": self.temperature, "stream": True}
        events = self._stream("/chat/completions", body)
        return collect((((e["choices"][0].get("delta") or {}).get("content") or "",
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
