"""The OpenAI-compatible backend against a real llama_cpp.server on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from retrieval.engine import Engine
from retrieval.errors import ModelError
from retrieval.llm import OpenAICompatibleLLM
from retrieval.summary import faithfulness as fa

pytestmark = pytest.mark.models  # a real llama_cpp.server with the packaged model

QUESTIONS = ["Who is China's lead trade negotiator?", "What is the capital of France?",
             "Where is He Lifeng scheduled to meet Scott Bessent?"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from retrieval.llm import resolve_gguf

    model = resolve_gguf("packaged", tmp_path_factory.mktemp("server-model"))
    port = _free_port()
    process = subprocess.Popen(
        # Our launcher: llama_cpp.server with the weight-repacking protection (AMX CPUs).
        [sys.executable, "-m", "retrieval.llm.llama_server", "--model", str(model),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
         "--model_alias", "gemma-270m"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/models", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server did not start") from None
                time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _remote(make_engine: Callable[..., Engine], base_url: str, data_dir: Path) -> Engine:
    return make_engine(data_dir=data_dir, **{
        "llm.backend": "openai", "llm.base_url": base_url, "llm.model": "gemma-270m",
        "llm.prompt_style": "completion", "llm.retries": 0,
        # The transport is under test: the model writes the answer, not the trained reader.
        "reader.model": "off"})


def test_answers_and_citations_match_the_in_process_backend(
    make_engine: Callable[..., Engine], server: str, tmp_path: Path
) -> None:
    # A server cannot run our constrained decoding, so a remote completion model generates
    # freely: compare it with the in-process model on that same path.
    local = make_engine(data_dir=tmp_path / "local", **{"answer.reader": "generate",
                                                        "answer.extract_fallback": False,
                                                        "reader.model": "off"})
    remote = _remote(make_engine, server, tmp_path / "remote")
    for question in QUESTIONS:
        streamed: list[str] = []
        want = local.ask(question)
        got = remote.ask(question, on_token=streamed.append)
        assert (got.text, got.abstained) == (want.text, want.abstained), question
        assert got.citations == want.citations, question
        if not got.abstained:
            assert "".join(streamed).strip()


def test_a_chat_style_summary_over_the_server_keeps_to_the_article(
    make_engine: Callable[..., Engine], server: str, tmp_path: Path
) -> None:
    # The served model gets chat messages (its template); whatever it writes passes the
    # same check as the in-process model's shortenings, or the article's sentence is kept.
    remote = make_engine(data_dir=tmp_path / "chat", **{
        "llm.backend": "openai", "llm.base_url": server, "llm.model": "gemma-270m",
        "llm.prompt_style": "chat", "llm.retries": 0})
    summary = remote.summarize(length="long")
    paragraphs = remote.collection().store.article_text(summary.article.id).split("\n\n")
    assert 3 <= len(summary.points) <= 6
    for point in summary.points:
        assert fa.unsupported(point.text, paragraphs[point.paragraph]) == []
        kept = point.text.removesuffix(" …").rstrip(".").lower()
        assert point.compressed or kept in " ".join(paragraphs[point.paragraph].split()).lower()


def test_the_server_counts_tokens_exactly(server: str) -> None:
    llm = OpenAICompatibleLLM(server, "gemma-270m")
    assert llm.count_tokens("He Lifeng met Scott Bessent in Switzerland.") < 20
    assert llm._can_tokenize


def test_a_server_that_is_down_is_one_clear_sentence(
    make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    engine = _remote(make_engine, f"http://127.0.0.1:{_free_port()}/v1", tmp_path / "down")
    with pytest.raises(ModelError, match=r"cannot be reached"):
        engine.ask("Who is China's lead trade negotiator?")


class _DyingServer:
    """Streams two tokens of an answer, then drops the connection (a crashed server)."""

    def __init__(self) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                if self.path.endswith("/extras/tokenize"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                for token in ("He", " Li"):
                    event = {"choices": [{"text": token, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_server_dying_mid_answer_is_one_sentence_after_the_streamed_tokens(
    make_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    server = _DyingServer()
    try:
        engine = _remote(make_engine, server.base_url, tmp_path / "dying")
        streamed: list[str] = []
        with pytest.raises(ModelError, match="broke off mid-answer"):
            engine.ask("Who is China's lead trade negotiator?", on_token=streamed.append)
        assert "".join(streamed) == "He Li"
    finally:
        server.close()
