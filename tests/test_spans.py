"""Answer types, candidate spans and the reader's plan on fixed passages (no model)."""

from __future__ import annotations

import pytest

from retrieval.answer.phrase_choice import choose_sentences, context_text, locate, plan_reading
from retrieval.answer.spans import Sentence, answer_type, candidates_in, rank_sentences, word_spans
from retrieval.llm.constrained import PhraseTrie, build_trie, constrain_to
from retrieval.search.gate import SupportGate, wordfreq_zipf
from retrieval.types import Passage

TALKS = Passage(
    chunk_id=1, article_id=1, title="Trade talks", paragraph=3, start=0, end=0, score=1.0,
    dense=0.6,
    text=("China has signalled it is ready to talk. The meeting, on 12 May 2025, puts He "
          "Lifeng, China's lead trade negotiator, across the table from Treasury Secretary "
          "Scott Bessent in Switzerland. Exports fell 12% in April because of the tariffs."))
OTHER = Passage(
    chunk_id=2, article_id=1, title="Trade talks", paragraph=4, start=0, end=0, score=0.8,
    dense=0.4, text="Analysts at the Stimson Center expect hard bargaining over 145% tariffs.")


@pytest.fixture(scope="module")
def gate() -> SupportGate:
    return SupportGate(wordfreq_zipf(), coverage_weight=0.75, name_weight=0.1,
                       min_support=0.82, min_score=0.25)


@pytest.mark.parametrize(("question", "kind"), [
    ("Who is China's lead negotiator?", "person"),
    ("Which official will He Lifeng meet?", "person"),
    ("How many jobs were cut?", "number"),
    ("By how much did exports fall?", "number"),
    ("When do the talks start?", "date"),
    ("In which country will they meet?", "place"),
    ("Where will the talks take place?", "place"),
    ("Why did exports fall?", "reason"),
    ("What did China signal?", ""),
])
def test_the_question_word_gives_the_answer_type(question: str, kind: str) -> None:
    assert answer_type(question) == kind


def _sentence(text_start: str) -> Sentence:
    start = TALKS.text.index(text_start)
    end = TALKS.text.index(".", start + len(text_start)) + 1
    return Sentence(TALKS, start, end, 0)


def test_typed_candidates_leave_out_the_question_own_names() -> None:
    meeting = _sentence("The meeting")
    people = [c.text for c in candidates_in(meeting, "person",
                                            "Which official will He Lifeng meet?")]
    assert "Treasury Secretary Scott Bessent" in people and "Switzerland" in people
    assert not any("Lifeng" in p for p in people)  # the question's own subject
    assert "The meeting" not in people and "May 2025" not in people
    assert "China" in people  # a possessive name without its "'s"
    numbers = [c.text for c in candidates_in(_sentence("Exports fell"), "number",
                                             "By how much did exports fall?")]
    assert numbers[0] == "12%"
    dates = [c.text for c in candidates_in(meeting, "date", "When is the meeting?")]
    assert "12 May 2025" in dates


def test_a_reason_question_gets_the_reason_clause() -> None:
    reasons = [c.text for c in candidates_in(_sentence("Exports fell"), "reason",
                                             "Why did exports fall in April?")]
    assert reasons == ["the tariffs"]


def test_candidates_point_at_their_place_in_the_passage() -> None:
    for candidate in candidates_in(_sentence("The meeting"), "place", "Where do they meet?"):
        assert TALKS.text[candidate.start:].startswith(candidate.text)


def test_sentences_sharing_the_question_rare_words_rank_first(gate: SupportGate) -> None:
    ranked = rank_sentences("Which Treasury official sits across from the negotiator?",
                            [TALKS, OTHER], gate.weight, "person")
    assert ranked[0].text.startswith("The meeting")


def test_the_chosen_sentences_keep_the_articles_order_with_the_best_passage_last(
    gate: SupportGate,
) -> None:
    chosen = choose_sentences("Why did exports fall in April?", [TALKS, OTHER], gate.weight,
                              sentences=2, type_match=True)
    assert len(chosen) == 2
    assert chosen[-1].text.startswith("Exports fell 12% in April")  # the answer's sentence
    assert [(s.rank, s.start) for s in chosen] == sorted(
        ((s.rank, s.start) for s in chosen), key=lambda pair: (-pair[0], pair[1]))
    text = context_text(chosen)
    assert "Stimson" not in text or text.index("Stimson") < text.index("Exports fell")


def test_the_plan_offers_typed_phrases_and_locates_the_answer(gate: SupportGate) -> None:
    plan = plan_reading("Which official will He Lifeng meet?", [TALKS, OTHER], gate.weight,
                        sentences=0, max_words=8, type_match=True)
    assert plan.kind == "person"
    assert "Scott Bessent" not in plan.phrases or "Treasury Secretary Scott Bessent" in \
        plan.phrases
    assert not any(p == "He Lifeng" for p in plan.phrases)
    # the best passage comes last, nearest the question
    assert context_text(plan.sentences).splitlines()[-1].startswith("China has signalled")
    found = locate("Scott Bessent", plan.sentences)
    assert found is not None and found[0] is TALKS
    assert TALKS.text[found[1]:].startswith("Scott Bessent")


def test_without_a_type_every_short_phrase_but_the_question_own_words_is_allowed(
    gate: SupportGate,
) -> None:
    plan = plan_reading("What did China signal?", [TALKS], gate.weight, sentences=1,
                        max_words=8, type_match=True)
    assert "it is ready to talk" in plan.phrases
    assert "China" not in plan.phrases and "signalled" not in plan.phrases
    assert all(len(p.split()) <= 8 for p in plan.phrases)


def test_word_spans_hold_a_content_word_and_no_edge_punctuation() -> None:
    spans = list(word_spans("He said: “the talks, in Geneva.”", 3))
    assert "Geneva" in spans and "the talks" in spans
    assert "He" not in spans and "the" not in spans  # stop words only
    assert not any(s.endswith((",", ".", "”")) for s in spans)


def test_constrained_decoding_allows_only_continuations_of_the_phrases() -> None:
    def tokenize(text: str) -> list[int]:
        return [ord(c) for c in text]  # one token per character: easy to follow

    trie = build_trie(["ab", "ac", "b"], tokenize, end=10)
    assert isinstance(trie, PhraseTrie) and len(trie) == 3
    process = constrain_to(trie)
    scores = [float(i) for i in range(128)]
    import numpy as np

    prompt = np.array([1, 2, 3])
    first = process(prompt, np.array(scores))
    assert set(np.flatnonzero(np.isfinite(first))) == {ord(" ")}
    after_space_a = process(np.array([1, 2, 3, ord(" "), ord("a")]), np.array(scores))
    assert set(np.flatnonzero(np.isfinite(after_space_a))) == {ord("b"), ord("c")}
    complete = process(np.array([1, 2, 3, ord(" "), ord("b")]), np.array(scores))
    assert set(np.flatnonzero(np.isfinite(complete))) == {10}  # only the end may follow
