"""Bounds and one-sentence refusals of the engine's collection management."""

from __future__ import annotations

import pytest

from retrieval.engine import Engine
from retrieval.errors import NotFoundError


@pytest.mark.parametrize("ref", ["99999999999999999999", "²", "٣", "9223372036854775808"])
def test_odd_article_numbers_are_one_sentence(engine: Engine, ref: str) -> None:
    with pytest.raises(NotFoundError) as caught:
        engine.remove(ref)
    assert str(caught.value) == f"No article {ref!r} in this collection."
