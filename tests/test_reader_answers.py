"""The trained reader's place in the answer path, with a scripted reader and a queued LLM
(fast tier): it decides whether to answer, its span is the answer and the citation quotes the
span's sentence; a base model may choose among its spans; a chat model writes from its
evidence sentence; its "no answer" applies to every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakes import QueuedLLM, ScriptedReader

from retrieval.engine import Engine

VOLCANO = (
    "Volcano Watch\n\n"
    "Mount Etna erupted on Sunday, sending a column of ash four kilometres into the sky.\n\n"
    "Catania airport closed for six hours while crews cleared ash from the runway."
)
OPEN = {"search.min_score": -1.0, "search.min_support": -10.0}


def test_the_readers_span_is_the_answer_and_its_sentence_the_citation(
        fast_engine: Callable[..., Engine]) -> None:
    reader = ScriptedReader("six hours")
    llm = QueuedLLM()
    engine = fast_engine(llm=llm, reader=reader, **OPEN)
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    streamed: list[str] = []
    answer = engine.ask("How long was the airport shut?", collection="default",
                        on_token=streamed.append)
    assert not answer.abstained and answer.text == "six hours"
    assert answer.citations[0].quote.startswith("Catania airport closed for six hours")
    assert answer.reader_margin == pytest.approx(10.0)
    assert "".join(streamed) == "six hours"
    assert llm.prompts == []  # answer_by = "reader": the base model is not asked


def test_the_reader_reads_the_found_passages_with_their_neighbouring_paragraphs(
        fast_engine: Callable[..., Engine]) -> None:
    # Widened by the paragraphs around them, the two paragraphs touch: read once, together
    # (the sample article, in the default collection too, comes after).
    reader = ScriptedReader("six hours")
    engine = fast_engine(reader=reader, **OPEN)
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = engine.ask("How long was the airport shut?")
    assert reader.read_texts[0][0] == VOLCANO.split("\n\n", 1)[1]
    # cited from its own paragraph, not the widened passage's first one
    assert answer.citations[0].paragraph == 1
    assert answer.citations[0].quote.startswith("Catania airport closed")

    alone = ScriptedReader("six hours")
    engine = fast_engine(reader=alone, **{**OPEN, "reader.context_chars": 0})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    engine.ask("How long was the airport shut?")
    assert len(alone.read_texts[0]) >= 2  # each found passage alone, more than search.top_k


def test_the_reader_ranks_spans_with_their_passages_search_scores(
        fast_engine: Callable[..., Engine]) -> None:
    # "Sunday" scores one point below "six hours", but its passage is the one search ranks
    # first for the question: with a large enough passage_weight it answers.
    reader = ScriptedReader("six hours", "Sunday")
    engine = fast_engine(reader=reader, **{**OPEN, "reader.passage_weight": 50.0})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = engine.ask("When did Mount Etna erupt and send ash into the sky?")
    found = engine.search("When did Mount Etna erupt and send ash into the sky?", k=6)
    assert reader.priors[0] == pytest.approx({
        phrase: 50.0 * next(p.score for p in found if phrase in p.text)
        for phrase in ("six hours", "Sunday")})
    assert answer.text == "Sunday"
    assert answer.reader_margin == pytest.approx(9.0)  # the chosen span's own margin

    plain = ScriptedReader("six hours", "Sunday")
    engine = fast_engine(reader=plain, **{**OPEN, "reader.passage_weight": 0.0})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    assert engine.ask("When did Mount Etna erupt and send ash into the sky?").text == \
        "six hours"


def test_the_reader_abstains_below_the_calibrated_margin(
        fast_engine: Callable[..., Engine]) -> None:
    reader = ScriptedReader("six hours", no_answer=9.5)
    engine = fast_engine(reader=reader, **{**OPEN, "reader.min_margin": 1.0})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = engine.ask("How many passengers were stranded?")
    assert answer.abstained and answer.citations == []
    assert answer.reader_margin == pytest.approx(0.5)


def test_a_passage_without_any_span_is_an_abstention(fast_engine: Callable[..., Engine]) -> None:
    engine = fast_engine(reader=ScriptedReader("nowhere to be found"), **OPEN)
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    assert engine.ask("Who flew the plane?").abstained


def test_the_off_topic_gate_stays_in_front_of_the_reader(
        fast_engine: Callable[..., Engine]) -> None:
    reader = ScriptedReader("six hours")
    engine = fast_engine(reader=reader, **{"search.min_score": 1.0})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    assert engine.ask("How do I bake sourdough bread?").abstained
    assert reader.read_texts == []


def test_a_base_model_chooses_among_the_readers_spans(fast_engine: Callable[..., Engine]) -> None:
    llm = QueuedLLM("Catania airport")
    reader = ScriptedReader("six hours", "Catania airport")
    engine = fast_engine(llm=llm, reader=reader, **{**OPEN, "reader.answer_by": "llm"})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = engine.ask("What closed after the eruption?")
    assert answer.text == "Catania airport"
    prompt = llm.prompts[-1]
    assert prompt.rstrip().endswith("What closed after the eruption?\nAnswer:")
    assert "Catania airport closed for six hours" in prompt  # only the spans' sentences
    assert "Mount Etna erupted" not in prompt.split("Question: What closed")[0][-300:]


def test_a_chat_model_writes_from_the_evidence_sentence(fast_engine: Callable[..., Engine]) -> None:
    llm = QueuedLLM("The airport was closed for six hours.", style="chat")
    engine = fast_engine(llm=llm, reader=ScriptedReader("six hours"), **OPEN)
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = engine.ask("How long was the airport shut?")
    assert answer.text == "The airport was closed for six hours."
    assert "Catania airport closed for six hours" in llm.prompts[-1]
    assert "Mount Etna" not in llm.prompts[-1]


def test_a_chat_sentence_that_strays_from_the_evidence_gives_way_to_the_span(
        fast_engine: Callable[..., Engine]) -> None:
    llm = QueuedLLM("Flights resumed at Heathrow after the storm.", style="chat")
    engine = fast_engine(llm=llm, reader=ScriptedReader("six hours"), **OPEN)
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    streamed: list[str] = []
    assert engine.ask("How long was the airport shut?", on_token=streamed.append).text == \
        "six hours"
    assert "".join(streamed) == "six hours"  # the rejected sentence never reached the member


def test_the_readers_no_answer_applies_to_chat_models_too(
        fast_engine: Callable[..., Engine]) -> None:
    llm = QueuedLLM("Nine passengers.", style="chat")
    engine = fast_engine(llm=llm, reader=ScriptedReader("six hours", no_answer=20.0), **OPEN)
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    assert engine.ask("How many passengers were stranded?").abstained
    assert llm.prompts == []


def test_the_answerability_check_below_its_threshold_is_an_abstention(
        fast_engine: Callable[..., Engine]) -> None:
    reader = ScriptedReader("six hours", answerable=-3.0)
    engine = fast_engine(reader=reader, **{**OPEN, "reader.min_answerable": -1.0})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = engine.ask("How many passengers were stranded?")
    assert answer.abstained and answer.citations == []
    assert answer.answerable == pytest.approx(-3.0)


def test_an_answerable_sentence_is_answered_and_its_score_recorded(
        fast_engine: Callable[..., Engine]) -> None:
    reader = ScriptedReader("six hours", answerable=2.5)
    engine = fast_engine(reader=reader, **{**OPEN, "reader.min_answerable": -1.0})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = engine.ask("How long was the airport shut?")
    assert answer.text == "six hours" and answer.answerable == pytest.approx(2.5)
