"""One rule for questions: the engine (CLI) and the Discord bot accept and refuse alike."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from retrieval.engine import Engine
from retrieval.errors import InputError
from retrieval.questions import check_question

EMPTY = "Ask a question about the articles, for example “Who is meeting?”."


@pytest.mark.parametrize("question", ["", "   ", "\u200b\u200b", "?!", "\n\t"])
def test_a_question_without_a_letter_or_digit_is_refused(question: str) -> None:
    with pytest.raises(InputError) as refused:
        check_question(question, 1000)
    assert str(refused.value) == EMPTY


def test_an_overlong_question_names_the_limit_and_its_length() -> None:
    with pytest.raises(InputError) as refused:
        check_question("why " * 251, 1000)
    assert str(refused.value) == "Questions are limited to 1000 characters; yours has 1003."


def test_white_space_is_collapsed_before_counting() -> None:
    assert check_question("  Who   is\nmeeting? ", 17) == "Who is meeting?"


def test_the_engine_refuses_with_the_bots_sentence(
    make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(**{"limits.max_question_chars": 50})
    with pytest.raises(InputError) as refused:
        engine.ask("???")  # used to reach the search
    assert str(refused.value) == EMPTY
    with pytest.raises(InputError, match="limited to 50 characters; yours has 60"):
        engine.search("x" * 60)
