"""Language models behind one small interface (``interface``).

``LlamaCppLLM`` runs a GGUF in-process (``llamacpp``); ``OpenAICompatibleLLM`` talks to any
OpenAI-compatible server over HTTP (``openai_compat``); ``resolve_gguf`` finds or assembles
the model file (``files``). Both stream tokens through an ``on_token`` callback.
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
