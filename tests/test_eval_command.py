"""``articlebot eval`` on a tiny data set: the runner's bookkeeping and the command's output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import QueuedLLM

from bot.cli import cli
from config import Settings
from retrieval.engine import Engine
from retrieval.evaluation.answer_eval import index_key, plan_eval, run_eval
from retrieval.evaluation.datasets import load_articles, load_questions
from retrieval.models.cache import ModelCache
from retrieval.types import DataDir

ARTICLES = [
    {"doc_id": "tower", "title": "Eiffel Tower",
     "text": "The Eiffel Tower was completed in March 1889 as the entrance arch to the World's "
             "Fair in Paris.\n\nIt was designed by the company of Gustave Eiffel, whose "
             "engineers also built bridges."},
    {"doc_id": "etna", "title": "Mount Etna",
     "text": "Mount Etna erupted on Sunday, sending a column of ash four kilometres into the "
             "sky over Sicily.\n\nCatania airport closed for six hours while crews cleared "
             "ash from the runway."},
]
QUESTIONS = [
    {"qid": "q1", "doc_id": "tower", "question": "Whose company designed the Eiffel Tower?",
     "answers": ["Gustave Eiffel", "the company of Gustave Eiffel"], "answerable": True,
     "paragraph": 1},
    {"qid": "q2", "doc_id": "tower", "question": "When was the Eiffel Tower completed?",
     "answers": ["March 1889"], "answerable": True, "paragraph": 0},
    {"qid": "q3", "doc_id": "etna", "question": "How long was Catania airport closed?",
     "answers": ["six hours"], "answerable": True, "paragraph": 1},
    {"qid": "q4", "doc_id": "etna", "question": "Which airport reopened after two days?",
     "answers": [], "answerable": False, "paragraph": 1},
    {"qid": "q5", "doc_id": "tower", "question": "Who painted the Eiffel Tower red?",
     "answers": [], "answerable": False, "paragraph": 0},
]


@pytest.fixture()
def data(tmp_path: Path) -> tuple[Path, Path]:
    articles, questions = tmp_path / "articles.jsonl", tmp_path / "questions.jsonl"
    articles.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES))
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return articles, questions


def scripted(replies: dict[str, str]) -> QueuedLLM:
    """Answers by question: the test knows every reply, so it knows every score."""

    def reply(prompt: str) -> str:
        question = prompt.rsplit("Question:", 1)[1].split("\n", 1)[0].strip()
        return replies.get(question, "nothing")

    return QueuedLLM(default=reply)


def test_the_runner_scores_known_replies(make_settings: Callable[..., Settings],
                                         model_cache: ModelCache, data: tuple[Path, Path],
                                         tmp_path: Path) -> None:
    replies = {
        "Whose company designed the Eiffel Tower?": "Gustave Eiffel",  # EM 1
        "When was the Eiffel Tower completed?": "in March 1889 as the entrance arch",  # F1 .5
        "How long was Catania airport closed?": "Sunday",  # wrong, grounded: F1 0
        "Which airport reopened after two days?": "Catania airport",  # answers: no abstention
        "Who painted the Eiffel Tower red?": "Picasso",  # not in the passages: abstains
    }
    # The support gate is tuned on real data; off here, only the scripted replies decide.
    # The replies are scripted: the model answers, not the trained reader.
    engine = Engine(make_settings(**{"reader.model": "off", "search.min_support": -10.0}),
                    llm=scripted(replies),
                    models=model_cache)
    out = tmp_path / "out.jsonl"
    with out.open("w") as handle:
        report = run_eval(engine, *data, limit=5, seed=0, out=handle)
    assert report["answerable"] == 3 and report["unanswerable"] == 2
    assert report["em"] == pytest.approx(33.3)
    assert report["f1"] == pytest.approx(round(100 * (1 + 0.5 + 0) / 3, 1))
    assert report["hit_at_5"] == 100.0 and report["paragraph_hit_at_5"] == 100.0
    assert report["abstain_unanswerable"] == 50.0
    assert report["false_abstain"] == 0.0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["qid"] for r in records} == {q["qid"] for q in QUESTIONS}
    for record in records:
        assert {"qid", "question", "answer", "abstained", "contexts", "latency_s"} <= set(record)
        assert record["contexts"] and all(isinstance(c, str) for c in record["contexts"])
    by_id = {r["qid"]: r for r in records}
    assert by_id["q1"]["answer"] == "Gustave Eiffel" and by_id["q1"]["em"] == 1.0
    assert by_id["q5"]["abstained"] is True
    # the temporary collection is gone; only the default one may remain
    assert not [p for p in DataDir(engine.settings.data_dir).collections.glob("eval-*")]


def test_the_off_topic_split_holds_half_the_articles(data: tuple[Path, Path]) -> None:
    articles, questions = load_articles(data[0]), load_questions(data[1])
    plan = plan_eval(articles, questions, limit=5, seed=1, split_off_topic=True)
    held = {a.doc_id for a in plan.held}
    assert len(held) == 1
    assert all(q.doc_id in held for q in plan.questions)
    assert plan.off_topic and all(q.doc_id not in held for q in plan.off_topic)


def test_the_index_key_changes_with_what_shapes_the_index(
    make_settings: Callable[..., Settings], data: tuple[Path, Path],
) -> None:
    articles = load_articles(data[0])
    base = make_settings()
    key = index_key(base, articles)
    assert key == index_key(make_settings(**{"search.top_k": 2}), articles)
    assert key != index_key(make_settings(**{"chunking.max_tokens": 64}), articles)
    assert key != index_key(base, articles[:1])


def test_eval_command_prints_the_documented_json(make_settings: Callable[..., Settings],
                                                 data: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    settings = make_settings()
    out = tmp_path / "records.jsonl"
    args = ["--data-dir", str(settings.data_dir), "eval", "--articles", str(data[0]),
            "--questions", str(data[1]), "--limit", "3", "--seed", "2", "--split-off-topic",
            "--reuse-index", "--out", str(out), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("f1", "em", "hit_at_5", "mrr", "abstain_unanswerable", "false_abstain",
                "abstain_off_topic", "p50_s", "p95_s", "context_tokens"):
        assert key in report, key
    assert report["questions"] == len(out.read_text().splitlines())
    assert list(DataDir(settings.data_dir).collections.glob("eval-*"))  # kept for reuse
    again = CliRunner().invoke(cli, args[:-1])  # table output, reusing the stored index
    assert again.exit_code == 0, again.output
    assert "hit_at_5" in again.stdout and "abstain_off_topic" in again.stdout


def test_per_article_eval_asks_each_article_alone_and_reports_each_kind(
    make_settings: Callable[..., Settings], model_cache: ModelCache, tmp_path: Path,
) -> None:
    kinds = {"q1": "entity", "q2": "number", "q3": "number", "q4": "unanswerable",
             "q5": "off_topic"}
    articles, questions = tmp_path / "a.jsonl", tmp_path / "q.jsonl"
    articles.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES))
    questions.write_text("".join(json.dumps({**q, "kind": kinds[q["qid"]]}) + "\n"
                                 for q in QUESTIONS))
    replies = {"Whose company designed the Eiffel Tower?": "Gustave Eiffel",
               "When was the Eiffel Tower completed?": "March 1889",
               "How long was Catania airport closed?": "Sunday",
               "Which airport reopened after two days?": "Catania airport",
               "Who painted the Eiffel Tower red?": "Picasso"}
    # Four passages per question: pooled, a question would also get the other article's.
    engine = Engine(make_settings(**{"reader.model": "off", "search.min_support": -10.0,
                                     "search.top_k": 4}),
                    llm=scripted(replies),
                    models=model_cache)
    out = tmp_path / "out.jsonl"
    with out.open("w") as handle:
        report = run_eval(engine, articles, questions, limit=5, seed=0, per_article=True,
                          out=handle)
    assert report["shape"] == "per-article" and report["articles"] == 2
    assert report["off_topic"] == 1 and report["unanswerable"] == 1
    assert report["abstain_off_topic"] == 100.0  # "Picasso" is not in the passages
    assert report["answered_unanswerable"] == 1 and report["answered_off_topic"] == 0
    assert report["by_kind"]["entity"]["f1"] == 100.0
    assert report["by_kind"]["number"]["f1"] == 50.0 and report["by_kind"]["number"]["em"] == 50.0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["kind"] for r in records} == set(kinds.values())
    doc_of = {q["qid"]: q["doc_id"] for q in QUESTIONS}
    for record in records:  # each article was alone in its collection
        own = next(a["text"] for a in ARTICLES if a["doc_id"] == doc_of[record["qid"]])
        assert record["contexts"] and all(c in own for c in record["contexts"]), record
    assert not [p for p in DataDir(engine.settings.data_dir).collections.glob("eval-*")]
