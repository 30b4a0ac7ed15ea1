"""``eval`` and ``bench`` away from this repository's layout (no ../shared/eval beside it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.measure import EVAL_DIR_ENV, eval_dir
from config import Settings
from retrieval.evaluation.benchmark import made_up_articles


@pytest.fixture()
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's machine: a working directory with no shared/eval in or above it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.delenv(EVAL_DIR_ENV, raising=False)
    assert eval_dir() is None
    return home


def test_the_eval_data_is_found_from_the_working_directory_or_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(EVAL_DIR_ENV, raising=False)
    (tmp_path / "shared" / "eval").mkdir(parents=True)
    clone = tmp_path / "articlebot" / "bot"
    clone.mkdir(parents=True)
    monkeypatch.chdir(clone)
    assert eval_dir() == tmp_path / "shared" / "eval"
    monkeypatch.setenv(EVAL_DIR_ENV, str(tmp_path / "mine"))
    assert eval_dir() == tmp_path / "mine"


def test_eval_without_data_says_what_is_missing_in_one_sentence(
    elsewhere: Path, make_settings: Callable[..., Settings]
) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(make_settings().data_dir), "eval"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("Error: No SQuAD-style evaluation data found")
    assert "--articles FILE and --questions FILE" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_eval_with_articles_only_asks_for_the_questions(
    elsewhere: Path, make_settings: Callable[..., Settings]
) -> None:
    articles = elsewhere / "articles.jsonl"
    articles.write_text(json.dumps({"doc_id": "a", "title": "T", "text": "x"}) + "\n")
    result = CliRunner().invoke(cli, ["--data-dir", str(make_settings().data_dir), "eval",
                                      "--articles", str(articles)])
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith("pass --questions FILE.")


def test_made_up_articles_start_with_the_sample_and_are_all_distinct() -> None:
    articles = made_up_articles(30)
    assert len(articles) == 30
    assert articles[0].title.startswith("China and U.S. Trade Talks")
    assert len({a.title for a in articles}) == len({a.text for a in articles}) == 30
    assert all(len(a.paragraphs) >= 4 and len(a.text.split()) > 150 for a in articles)
    assert made_up_articles(5) == articles[:5]  # seeded: the same data on every machine


def test_bench_runs_on_data_it_makes_when_no_bbc_set_is_found(
    elsewhere: Path, make_settings: Callable[..., Settings]
) -> None:
    result = CliRunner().invoke(cli, [
        "--data-dir", str(make_settings().data_dir), "bench", "--ingest-articles", "6",
        "--sizes", "300", "--queries", "5", "--asks", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("No BBC News set found")
    report = json.loads(result.stdout)
    assert report["data"] == "made-up"
    assert report["ingest_articles"] == 6 and report["ingest_chunks"] >= 6
    assert 0 < report["search_300_p50_ms"] <= report["search_300_p95_ms"]
    assert report["ask_p50_s"] > 0 and report["cold_start_s"] > 0
