"""What counts as a question: one rule, one message, for the engine and the Discord bot."""

from __future__ import annotations

from retrieval.errors import InputError


def check_question(question: str, max_chars: int) -> str:
    """``question`` with its white space collapsed, or an InputError (one sentence) when it
    has no letter or digit (empty, or only invisible characters) or exceeds ``max_chars``."""
    question = " ".join(question.split())
    if not any(c.isalnum() for c in question):
        raise InputError("Ask a question about the articles, for example “Who is meeting?”.")
    if len(question) > max_chars:
        raise InputError(f"Questions are limited to {max_chars} characters; "
                         f"yours has {len(question)}.")
    return question
