"""Language models behind one small interface (``interface``).

``LlamaCppLLM`` runs a GGUF in-process (``llamacpp``): one lock, decoding constrained to
phrases of the passages (``constrained``), and the weight-repacking decision that keeps
Intel AMX machines from crashing (``repacking``). ``OpenAICompatibleLLM`` talks to any
OpenAI-compatible server over HTTP (``openai_compat``); ``resolve_gguf`` finds or assembles
the model file (``files``). Both stream tokens through an ``on_token`` callback.
``python -m retrieval.llm.llama_server`` runs llama-cpp-python's own server with the same
repacking decision.

Layer 1: may import layer 0 (``retrieval.errors``, ``retrieval.types``,
``retrieval.questions``, ``retrieval.text``) and nothing else of ``retrieval``.
"""

from retrieval.llm.files import resolve_gguf
from retrieval.llm.interface import (
    LLM,
    Completion,
    ConstrainedLLM,
    Message,
    PromptStyle,
    TokenCallback,
)
from retrieval.llm.llamacpp import LlamaCppLLM, llama_class
from retrieval.llm.openai_compat import OpenAICompatibleLLM

__all__ = [
    "LLM",
    "Completion",
    "ConstrainedLLM",
    "LlamaCppLLM",
    "Message",
    "OpenAICompatibleLLM",
    "PromptStyle",
    "TokenCallback",
    "llama_class",
    "resolve_gguf",
]
