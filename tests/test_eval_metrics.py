"""Evaluation metrics on known inputs: SQuAD normalisation, EM, F1, hit@k, MRR, the summary."""

from __future__ import annotations

import pytest

from retrieval.evaluation.datasets import EvalQuestion, sample_questions
from retrieval.evaluation.metrics import (
    QuestionResult,
    contains_answer,
    exact_match,
    f1_score,
    first_rank,
    hit_at,
    mean_reciprocal_rank,
    normalize_answer,
    percentile,
    summarize_results,
)


def test_normalisation_follows_the_official_squad_script() -> None:
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("U.S. $12") == "us 12"
    assert normalize_answer("Theatre") == "theatre"  # "the" only as a whole word


def test_exact_match_and_f1() -> None:
    assert exact_match("the Eiffel tower", ["Eiffel Tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"]) == 0.0
    # precision 1/1, recall 1/2 -> F1 2/3
    assert f1_score("Eiffel", ["Eiffel Tower"]) == pytest.approx(2 / 3)
    # the best gold counts
    assert f1_score("October 1973", ["1973", "October 1973"]) == 1.0
    assert f1_score("nothing alike", ["Eiffel Tower"]) == 0.0
    # precision 2/4, recall 2/2 -> 2/3
    assert f1_score("Gustave Eiffel's company designed", ["Gustave Eiffel's"]) == \
        pytest.approx(2 / 3)
    # an unanswerable question is right only when the prediction is empty
    assert exact_match("", []) == 1.0 and f1_score("Paris", []) == 0.0


def test_answer_containment_is_by_whole_normalised_words() -> None:
    assert contains_answer("Prices rose to nearly $12 a barrel.", ["nearly $12"])
    assert contains_answer("In the Sinai Peninsula.", ["Sinai peninsula"])
    assert not contains_answer("In 19730 things happened.", ["1973"])
    assert contains_answer("Ronald Robinson (1920–1999) wrote", ["1999"])
    assert contains_answer("John Paul II's visits", ["John Paul II"])
    assert not contains_answer("anything", [""])


def test_ranks_hits_and_mrr() -> None:
    assert first_rank([False, False, True, True]) == 3
    assert first_rank([False]) is None
    ranks = [1, 3, None, 6]
    assert hit_at(ranks, 1) == 0.25
    assert hit_at(ranks, 5) == 0.5
    assert hit_at(ranks, 10) == 0.75
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 6) / 4)
    assert hit_at([], 5) == 0.0 and mean_reciprocal_rank([]) == 0.0


def test_percentile_interpolates_like_numpy() -> None:
    values = [0.1, 0.2, 0.3, 0.4, 1.0]
    assert percentile(values, 50) == pytest.approx(0.3)
    assert percentile(values, 95) == pytest.approx(0.88)
    assert percentile([], 50) == 0.0


def _question(qid: str, answerable: bool) -> EvalQuestion:
    return EvalQuestion(qid, "doc", "?", ("x",) if answerable else (), answerable, 0)


def test_sampling_is_seeded_and_keeps_the_answerable_share() -> None:
    pool = [_question(f"a{i}", True) for i in range(30)] + \
        [_question(f"u{i}", False) for i in range(30)]
    first = sample_questions(pool, 25, seed=3)
    assert [q.qid for q in first] == [q.qid for q in sample_questions(pool, 25, seed=3)]
    assert sum(q.answerable for q in first) == 15 and len(first) == 25
    assert [q.qid for q in sample_questions(pool, 25, seed=4)] != [q.qid for q in first]


def _result(answerable: bool, answer: str, abstained: bool, golds: tuple[str, ...] = (),
            rank: int | None = None, off_topic: bool = False, latency: float = 0.1
            ) -> QuestionResult:
    return QuestionResult("q", "?", answerable, off_topic, golds, answer, abstained,
                          ["a passage with Gustave Eiffel"] if not abstained else [],
                          latency, context_tokens=100, answer_rank=rank)


def test_the_summary_scores_each_group_separately() -> None:
    results = [
        _result(True, "Gustave Eiffel", False, ("Gustave Eiffel",), rank=1, latency=0.2),
        _result(True, "Eiffel", False, ("Gustave Eiffel",), rank=4, latency=0.4),
        _result(True, "", True, ("Gustave Eiffel",), rank=None, latency=0.3),  # false abstain
        _result(False, "", True),
        _result(False, "Paris", False),
        _result(False, "", True, off_topic=True),
        _result(True, "Paris", False, ("Lyon",), off_topic=True),
    ]
    report = summarize_results(results)
    assert report["answerable"] == 3 and report["unanswerable"] == 2 and report["off_topic"] == 2
    assert report["em"] == pytest.approx(33.3)
    assert report["f1"] == pytest.approx(round(100 * (1 + 2 / 3) / 3, 1))
    assert report["hit_at_1"] == pytest.approx(33.3)
    assert report["hit_at_5"] == pytest.approx(66.7)
    assert report["mrr"] == pytest.approx(round((1 + 0.25) / 3, 3))
    assert report["false_abstain"] == pytest.approx(33.3)
    assert report["abstain_unanswerable"] == 50.0
    assert report["abstain_off_topic"] == 50.0
    assert report["context_hit"] == pytest.approx(66.7)
    assert report["context_tokens"] == 100.0
    assert report["p50_s"] == pytest.approx(0.1)  # four of the seven took 0.1 s
    assert report["p95_s"] == pytest.approx(0.37)
