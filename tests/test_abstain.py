"""The abstention decision on fixed passages: what raises and lowers the support score."""

from __future__ import annotations

import dataclasses

import pytest

from retrieval.search.gate import SupportGate, wordfreq_zipf
from retrieval.types import Passage

PASSAGE = Passage(
    chunk_id=1, article_id=1, title="China and U.S. trade talks", paragraph=3, start=0, end=0,
    score=0.6, dense=0.28,
    text="He Lifeng, China's lead trade negotiator, is scheduled to sit down with Secretary "
         "of Treasury Scott Bessent in Switzerland.")


@pytest.fixture(scope="module")
def gate() -> SupportGate:
    return SupportGate(wordfreq_zipf(), coverage_weight=0.25, name_weight=0.2,
                       min_support=0.52, min_score=0.25, cover_bonus=0.1)


def test_a_short_question_about_a_name_the_passage_holds_gets_the_cover_bonus(
        gate: SupportGate) -> None:
    # A five-word question is never close to a long passage by cosine (0.28 here), but every
    # word it has is in the passage.
    support = gate.support("Who is He Lifeng?", [PASSAGE])
    assert support.missing_names == 0.0 and support.coverage > 0.85
    without = SupportGate(wordfreq_zipf(), coverage_weight=0.25, name_weight=0.2,
                          min_support=0.52, min_score=0.25)
    assert support.score == pytest.approx(without.support("Who is He Lifeng?",
                                                          [PASSAGE]).score + 0.1)
    assert gate.supported("Who is He Lifeng?", [PASSAGE])


def test_a_name_the_passages_lack_gets_no_bonus_and_is_refused(gate: SupportGate) -> None:
    support = gate.support("Who is Janet Yellen?", [PASSAGE])
    assert support.missing_names == 1.0
    assert not gate.supported("Who is Janet Yellen?", [PASSAGE])


def test_rare_question_words_missing_from_the_passage_lower_the_score(
        gate: SupportGate) -> None:
    close = dataclasses.replace(PASSAGE, dense=0.45)
    on_topic = gate.support("Where will He Lifeng meet Scott Bessent?", [close])
    off_topic = gate.support("How long should sourdough dough prove?", [close])
    assert on_topic.coverage > 0.8 > 0.2 > off_topic.coverage
    assert gate.supported("Where will He Lifeng meet Scott Bessent?", [close])
    assert not gate.supported("How long should sourdough dough prove?", [close])


def test_no_passages_means_no_support(gate: SupportGate) -> None:
    assert not gate.supported("Who is He Lifeng?", [])
