"""``articlebot train-reader`` in miniature: a few steps on a handful of SQuAD-style examples
from the packaged encoder, a resumed run, the export with its manifest, and the exported
reader loading and reading (real weights; the models tier)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from retrieval.answer.reader import Windowing
from retrieval.answer.trained_weights import load_span_reader, read_files
from retrieval.answer.training import TrainingSettings, build_examples, split_articles

pytestmark = pytest.mark.models

ARTICLES = {
    f"Article_{i}": "\n\n".join([
        f"The festival in town {i} opens on Friday with a parade led by mayor Ann Cole {i}.",
        f"Tickets for the festival in town {i} cost twelve pounds and sell at the library.",
    ]) for i in range(4)
}
QUESTIONS = [
    q for i in range(4) for q in (
        {"qid": f"{i}a", "doc_id": f"Article_{i}", "question": "Who leads the parade?",
         "answers": [f"mayor Ann Cole {i}"], "answerable": True, "paragraph": 0},
        {"qid": f"{i}b", "doc_id": f"Article_{i}", "question": "How much do tickets cost?",
         "answers": ["twelve pounds"], "answerable": True, "paragraph": 1},
        {"qid": f"{i}c", "doc_id": f"Article_{i}", "question": "Who built the library?",
         "answers": [], "answerable": False, "paragraph": 1},
    )
]


def write_squad(folder: Path) -> Path:
    folder.mkdir()
    (folder / "articles.jsonl").write_text("".join(
        json.dumps({"doc_id": k, "title": k, "text": v}) + "\n" for k, v in ARTICLES.items()))
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return folder


def train_toy_reader(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """A reader trained a few steps on the toy articles (every layer but the top one
    frozen): its SQuAD folder, its exported folder and its split's options."""
    squad = write_squad(tmp_path / "squad")
    export = tmp_path / "weights"
    split = ["--seed", "1", "--held-out-articles", "1"]
    reader = CliRunner().invoke(cli, ["train-reader", "--squad", str(squad), "--out",
                                      str(tmp_path / "run"), "--epochs", "0.2",
                                      "--frozen-layers", "5", *split, "--export", str(export)])
    assert reader.exit_code == 0, reader.output
    return squad, export, split


def test_the_split_is_by_article_and_fixed() -> None:
    train, held = split_articles(list(ARTICLES), held_out=1, seed=0)
    assert len(held) == 1 and not set(train) & set(held)
    assert (train, held) == split_articles(list(reversed(ARTICLES)), held_out=1, seed=0)


def test_negatives_pair_a_question_with_another_paragraph_of_its_article() -> None:
    examples = build_examples(ARTICLES, QUESTIONS, {"Article_0"}, negatives=1.0, seed=0)
    negatives = [e for e in examples if e.answer_start < 0 and e.question.startswith("How")]
    assert negatives and all("twelve pounds" not in e.context for e in negatives)
    answered = [e for e in examples if e.answer_start >= 0]
    assert all(e.context[e.answer_start:].startswith(e.answer) for e in answered)
    assert {e.article for e in examples} == {"Article_0"}


def test_a_few_steps_train_resume_and_export_a_reader_that_loads(tmp_path: Path) -> None:
    squad = write_squad(tmp_path / "squad")
    run, export = tmp_path / "run", tmp_path / "weights"
    args = ["train-reader", "--squad", str(squad), "--out", str(run), "--epochs", "0.5",
            "--frozen-layers", "4", "--seed", "1", "--held-out-articles", "1"]
    first = CliRunner().invoke(cli, [*args, "--export", str(export)])
    assert first.exit_code == 0, first.output
    assert "Exported" in first.output
    record = json.loads((run / "run.json").read_text())
    assert record["steps_done"] >= 1 and (run / "checkpoint.pt").exists()
    assert set(record["train_articles"]).isdisjoint(record["held_out_articles"])
    again = CliRunner().invoke(cli, args)  # resumes at its last step: nothing left to do
    assert again.exit_code == 0 and json.loads((run / "run.json").read_text())[
        "steps_done"] == record["steps_done"]
    manifest = read_files(export).manifest
    assert manifest["data"]["licence"].startswith("SQuAD 2.0")
    assert manifest["settings"]["frozen_layers"] == 4
    assert manifest["base_model"]["sha256"] and manifest["weights"]["sha256"]
    trained = manifest["weights"]["bytes"]
    assert trained < 8_000_000  # two layers (1.8M weights each) and the head, float16
    reader = load_span_reader(str(export), Windowing().max_answer_tokens)
    reading = reader.read("Who leads the parade?", list(ARTICLES["Article_0"].split("\n\n")))
    assert reading.spans and all(s.text for s in reading.spans)


def test_settings_record_every_choice() -> None:
    fields = TrainingSettings().__dataclass_fields__
    assert {"epochs", "frozen_layers", "keep_no_answer", "negatives", "seed"} <= set(fields)


def test_window_and_embedding_choices_reach_the_manifest_and_the_loaded_reader(
        tmp_path: Path) -> None:
    squad = write_squad(tmp_path / "squad")
    export = tmp_path / "weights"
    result = CliRunner().invoke(cli, [
        "train-reader", "--squad", str(squad), "--out", str(tmp_path / "run"), "--epochs",
        "0.3", "--frozen-layers", "6", "--train-embeddings", "--max-length", "128",
        "--stride", "32", "--held-out-articles", "1", "--export", str(export)])
    assert result.exit_code == 0, result.output
    settings = read_files(export).manifest["settings"]
    assert settings["freeze_embeddings"] is False
    assert settings["windowing"]["max_length"] == 128 and settings["windowing"]["stride"] == 32
    reader = load_span_reader(str(export), 30, check=False)
    assert (reader.windowing.max_length, reader.windowing.stride) == (128, 32)


def test_a_stride_too_long_for_the_window_is_one_clear_sentence(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train-reader", "--squad", str(write_squad(
        tmp_path / "squad")), "--out", str(tmp_path / "run"), "--max-length", "128",
        "--stride", "96"])
    assert result.exit_code == 2
    assert "must be under half the window" in result.output
    assert not (tmp_path / "run").exists()
