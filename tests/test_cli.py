"""The articlebot command line: output shapes, exit codes and one-sentence errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from config import Settings

Run = Callable[..., "CliResult"]


class CliResult:
    def __init__(self, code: int, stdout: str, stderr: str):
        self.code, self.stdout, self.stderr = code, stdout, stderr


@pytest.fixture()
def run(make_settings: Callable[..., Settings]) -> Run:
    settings = make_settings()

    def invoke(*args: str, input: str | None = None) -> CliResult:
        runner = CliRunner()
        result = runner.invoke(cli, ["--data-dir", str(settings.data_dir), *args], input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


def test_help_is_instant_and_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "bot.cli", "--help"], capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    for command in ("ingest", "list", "remove", "ask", "chat", "summary"):
        assert command in out.stdout
    # --help must not import the heavy libraries.
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys; from bot.cli import cli; cli(['--help'], standalone_mode=False); "
         "print('torch' in sys.modules, 'llama_cpp' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert probe.stdout.strip().endswith("False False")


def test_usage_errors_exit_2_and_user_errors_exit_1_with_one_sentence(run: Run) -> None:
    assert run("ask").code == 2
    result = run("remove", "no such article")
    assert result.code == 1
    assert result.stderr.strip() == "Error: No article 'no such article' in this collection."


def test_list_json_has_the_documented_fields(run: Run) -> None:
    result = run("list", "--json")
    assert result.code == 0
    articles = json.loads(result.stdout)
    assert len(articles) == 1
    assert set(articles[0]) == {"id", "title", "chunks", "added_at", "source"}


def test_ask_json_answers_with_citations_and_timings(run: Run) -> None:
    result = run("ask", "--json", "Where will the talks take place?")
    assert result.code == 0
    answer = json.loads(result.stdout)
    assert set(answer) == {"answer", "abstained", "citations", "timings"}
    assert "Switzerland" in answer["answer"] and answer["abstained"] is False
    assert set(answer["citations"][0]) == {"article_id", "title", "paragraph", "quote", "score"}


def test_ask_streams_the_answer_then_the_citations(run: Run) -> None:
    result = run("ask", "Where will the talks take place?")  # make demo's question
    lines = result.stdout.splitlines()
    assert "Switzerland" in lines[0]
    assert lines[1].lstrip().startswith("[1] China and U.S. Trade Talks")


def test_ingesting_a_folder_stores_each_file_and_reports_bad_ones(
    run: Run, tmp_path: Path
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "one.md").write_text("# Harbour News\n\nThe ferry to Skye now runs hourly.\n")
    (folder / "two.html").write_text(
        "<html><head><title>Bakery Opens</title></head><body><article><h1>Bakery Opens</h1>"
        "<p>A new bakery opened on Mill Street on Friday, selling rye bread and pastries to a "
        "queue of more than a hundred customers who had waited since dawn.</p>"
        "<p>The owners said they hope to hire six more bakers by spring.</p>"
        "</article></body></html>")
    (folder / "empty.txt").write_text("")
    result = run("ingest", str(folder))
    assert result.code == 1
    assert "Stored 'Harbour News'" in result.stdout
    assert "Stored 'Bakery Opens'" in result.stdout
    assert "empty.txt is empty." in result.stderr
    titles = {a["title"] for a in json.loads(run("list", "--json").stdout)}
    assert {"Harbour News", "Bakery Opens"} <= titles


def test_ingest_json_and_remove_by_title(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Tide Tables\n\nHigh tide at Dover is at 06:12 on Tuesday.\n")
    stored = json.loads(run("ingest", "--json", str(path)).stdout)
    assert stored[0]["title"] == "Tide Tables" and stored[0]["status"] == "added"
    removed = run("remove", "tide tables")
    assert removed.code == 0 and "Removed 'Tide Tables'" in removed.stdout


def test_a_refused_url_is_one_sentence(run: Run) -> None:
    result = run("ingest", "http://127.0.0.1:9/article")
    assert result.code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_chat_uses_previous_turns_for_follow_ups(run: Run) -> None:
    result = run("chat", input="Who is China's lead trade negotiator?\n"
                              "Where will he meet Scott Bessent?\n\n")
    assert result.code == 0
    assert "He Lifeng" in result.stdout
    assert "Switzerland" in result.stdout


def test_a_folder_with_twins_stores_each_content_once(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "twins"
    folder.mkdir()
    story = "Lighthouse Keeper Retires\n\nThe last keeper of the Fastnet light retired today.\n"
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(story)
    (folder / "c.txt").write_text("Canal Reopens\n\nBarges returned to the canal on Monday.\n")
    result = run("ingest", str(folder))
    assert result.code == 0, result.stderr
    assert result.stdout.count("Stored ") == 2
    assert result.stdout.count("Already stored 'Lighthouse Keeper Retires'") == 1
    titles = [a["title"] for a in json.loads(run("list", "--json").stdout)]
    assert titles.count("Lighthouse Keeper Retires") == 1


def test_a_folder_scan_takes_every_supported_suffix(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "ferry.text").write_text("Ferry Timetable\n\nThe ferry to Skye runs hourly.\n")
    (folder / "bakery.xhtml").write_text(
        "<html><head><title>Bakery Opens</title></head><body><p>A bakery opened on Mill "
        "Street on Friday.</p></body></html>")
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    result = run("ingest", str(folder))
    assert result.code == 0, result.stderr
    assert "Stored 'Ferry Timetable'" in result.stdout
    assert "Stored 'Bakery Opens'" in result.stdout and "notes" not in result.stdout


@pytest.mark.parametrize("module", ["bot.measure", "bot.run", "bot.context"])
def test_the_command_modules_do_not_import_the_cli_module(module: str) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print('bot.cli' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"
