"""The packaged reader (retrieval/answer/reader_weights) on the sample article: it finds the
place of the talks in their paragraph, abstains when the article does not say how long they
last, and answers in the bot's own ask path with the sentence that holds the answer cited."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from config import load_settings
from retrieval.answer.answerability import AnswerabilityCheck
from retrieval.answer.reader import Reading, SpanReader
from retrieval.answer.trained_weights import PACKAGED, load_span_reader, read_files
from retrieval.engine import Engine

pytestmark = pytest.mark.models

SAMPLE = Path(__file__).resolve().parents[1] / "retrieval" / "sample" / "china-us-trade-talks.txt"


def _paragraph_with(word: str) -> str:
    return next(p for p in SAMPLE.read_text(encoding="utf-8").split("\n") if word in p)


@pytest.fixture(scope="module")
def reader() -> SpanReader:
    # With its check (shipped, off by default: ``reader.check = true`` turns it on), so that
    # the tests below cover the reader with and through it.
    cfg = load_settings(None).reader
    return load_span_reader("packaged", cfg.max_answer_tokens, True, cfg.check_weight,
                            cfg.calibration)


@pytest.fixture(scope="module")
def min_margin() -> float:
    return load_settings(None).reader.min_margin


def test_the_packaged_reader_is_the_default_and_its_manifest_checks() -> None:
    assert load_settings(None).reader.model == "packaged"
    files = read_files(PACKAGED)  # digests checked against the manifest
    check = PACKAGED / files.manifest["answerability"]["file"]
    assert files.weights.stat().st_size + check.stat().st_size <= 25_000_000
    manifest = files.manifest
    assert manifest["data"]["licence"].startswith("SQuAD 2.0")
    assert set(manifest["held_out_articles"]).isdisjoint(manifest["train_articles"])


def test_the_reader_finds_where_the_talks_take_place(reader: SpanReader,
                                                       min_margin: float) -> None:
    reading = reader.read("Where will the talks take place?", [_paragraph_with("Switzerland")])
    assert reading.spans[0].text == "Switzerland"
    assert reading.margin >= min_margin


def test_the_reader_and_its_check_read_safely_from_several_threads(reader: SpanReader) -> None:
    # The check shares the reader's tokenizer, whose truncation each call sets: one lock.
    assert isinstance(reader.check, AnswerabilityCheck) and reader.check_weight > 0
    assert reader.check.tokenizer is reader.tokenizer
    assert reader.check._tokenizing is reader._tokenizing
    asked = [("Where will the talks take place?", [_paragraph_with("Switzerland")]),
             ("Which think tank does Yun Sun work for?", [_paragraph_with("Stimson")]),
             ("Who is China's lead trade negotiator?", [_paragraph_with("He Lifeng"),
                                                        _paragraph_with("Stimson")])] * 4
    alone = [reader.read(q, texts) for q, texts in asked]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda item: reader.read(*item), asked))
    # The same spans; their scores alike to float rounding (torch's threads may sum in
    # another order when several reads share the cores).
    def where(readings: list[Reading]) -> list[list[tuple[int, int, int, str]]]:
        return [[(s.passage, s.start, s.end, s.text) for s in r.spans] for r in readings]

    assert where(together) == where(alone)
    assert [s.score for r in together for s in r.spans] == pytest.approx(
        [s.score for r in alone for s in r.spans], abs=1e-3)
    assert [r.answerable for r in together] == pytest.approx([r.answerable for r in alone])


def test_the_reader_abstains_when_the_article_does_not_say(reader: SpanReader,
                                                            min_margin: float) -> None:
    reading = reader.read("How long will the talks last?", [_paragraph_with("Switzerland")])
    assert reading.margin < min_margin


def test_the_ask_path_answers_with_the_readers_span_and_cites_its_sentence(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine()
    answer = engine.ask("Where will the talks take place?")  # make demo's question
    assert not answer.abstained
    assert answer.text == "Switzerland"
    assert "reader_s" in answer.timings
    assert any("in Switzerland" in c.quote for c in answer.citations)
    refused = engine.ask("How long will the talks last?")
    assert refused.abstained
