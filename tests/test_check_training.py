"""``articlebot train-check`` in miniature: the sentence pairs it learns from (fast), and a
few steps on top of a freshly exported reader, exported into that reader's manifest, loaded
and asked (real weights; the models tier)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_reader_training import ARTICLES, train_toy_reader

from bot.cli import cli
from retrieval.answer.check_training import CheckSettings, build_pairs, build_span_pairs
from retrieval.answer.reader import Reading, Span, Windowing
from retrieval.answer.trained_weights import CHECK_WEIGHTS, load_span_reader, read_files
from retrieval.errors import ModelError

STORY = {"Story": "\n\n".join([
    "The council met on Monday. It voted to close the old bridge in March. "
    "Repairs will cost four million pounds.",
    "Residents protested outside the town hall. The mayor promised a new ferry.",
])}
STORY_QUESTIONS = [
    {"qid": "a", "doc_id": "Story", "question": "When will the old bridge close?",
     "answers": ["in March", "March"], "answerable": True, "paragraph": 0},
    {"qid": "u", "doc_id": "Story", "question": "When will the new bridge open?",
     "answers": [], "answerable": False, "paragraph": 0},
]


def test_pairs_hold_the_answers_sentence_and_hard_negatives() -> None:
    pairs = build_pairs(STORY, STORY_QUESTIONS, {"Story"}, CheckSettings(other_paragraph=1.0))
    by_kind = {(p.kind, p.question): p for p in pairs}
    answer = by_kind[("answer", "When will the old bridge close?")]
    assert answer.label == 1
    assert answer.sentence == "It voted to close the old bridge in March."
    negatives = [p for p in pairs if p.label == 0]
    assert {p.kind for p in negatives} == {"same_paragraph", "other_paragraph", "unanswerable"}
    assert all("March" not in p.sentence for p in negatives if p.kind != "unanswerable")
    unanswerable = [p.sentence for p in pairs if p.kind == "unanswerable"]
    assert unanswerable[0] == "It voted to close the old bridge in March."  # the most alike


def test_only_the_training_articles_give_pairs() -> None:
    assert build_pairs(STORY, STORY_QUESTIONS, set(), CheckSettings()) == []


@pytest.mark.models
def test_a_few_steps_train_export_and_load_a_check_on_its_reader(tmp_path: Path) -> None:
    squad, export, split = train_toy_reader(tmp_path)
    wrong_split = CliRunner().invoke(cli, ["train-check", "--squad", str(squad), "--reader",
                                           str(export), "--out", str(tmp_path / "c0")])
    assert wrong_split.exit_code == 1 and "article split" in wrong_split.output
    check = CliRunner().invoke(cli, ["train-check", "--squad", str(squad), "--reader",
                                     str(export), "--out", str(tmp_path / "check"),
                                     "--epochs", "1", *split, "--export", str(export)])
    assert check.exit_code == 0, check.output
    assert "held-out pair AUC" in check.output and "Exported" in check.output
    spans = CliRunner().invoke(cli, ["train-check", "--squad", str(squad), "--reader",
                                     str(export), "--out", str(tmp_path / "spans"), "--level",
                                     "span", "--epochs", "1", *split])
    assert spans.exit_code == 0, spans.output
    assert list((tmp_path / "spans").glob("pairs-*.jsonl"))  # the reader's reading, kept
    section = read_files(export).manifest["answerability"]
    assert section["trained_layers"] == 1 and section["data"]["licence"].startswith("SQuAD")
    assert section["bytes"] < 4_000_000  # one layer (1.8M weights) and the head, float16
    loaded = load_span_reader(str(export), Windowing().max_answer_tokens)
    assert loaded.check is not None
    # The check shares the reader's embeddings and lower layers: no second encoder in memory.
    assert loaded.check.model.bert.embeddings is loaded.model.bert.embeddings
    reading = loaded.read("Who leads the parade?", ARTICLES["Article_0"].split("\n\n"))
    assert reading.spans and reading.answerable is not None
    off = load_span_reader(str(export), Windowing().max_answer_tokens, check=False)
    assert off.check is None
    (export / CHECK_WEIGHTS).write_bytes(b"damaged")
    with pytest.raises(ModelError, match=r"answerability check .*altered or damaged"):
        read_files(export)
    assert load_span_reader(str(export), 30, check=False).check is None  # as the message says
    record = json.loads((tmp_path / "check" / "run.json").read_text())
    manifest = json.loads((export / "manifest.json").read_text())
    assert record["pairs"] > 0
    assert record["train_articles"] == manifest["train_articles"]  # the reader's split


class FixedSpans:
    """A reader that offers the given phrases, best first, wherever they occur."""

    def __init__(self, *phrases: str) -> None:
        self.phrases = phrases

    def read(self, question: str, texts: list[str], top_n: int = 3) -> Reading:
        spans = [Span(0, texts[0].find(p), texts[0].find(p) + len(p), p, 1.0)
                 for p in self.phrases if p in texts[0]]
        return Reading(spans[:top_n], 0.0)

    def read_many(self, asked: list[tuple[str, list[str]]], top_n: int = 3) -> list[Reading]:
        return [self.read(q, texts, top_n) for q, texts in asked]


def test_span_pairs_mark_the_readers_spans_right_or_wrong() -> None:
    reader = FixedSpans("in March", "four million pounds", "The mayor")
    pairs = build_span_pairs(reader, STORY, STORY_QUESTIONS, {"Story"},
                             CheckSettings(other_paragraph=1.0),
                             judge=lambda span, answers: span in answers)
    labelled = {(p.question, p.sentence): p.label for p in pairs}
    asked = "When will the old bridge close?"
    assert labelled[(asked, "It voted to close the old bridge « in March ».")] == 1
    assert labelled[(asked, "Repairs will cost « four million pounds ».")] == 0
    assert labelled[("When will the new bridge open?",
                     "It voted to close the old bridge « in March ».")] == 0  # unanswerable
    assert ("other_paragraph", 0) in {(p.kind, p.label) for p in pairs}
