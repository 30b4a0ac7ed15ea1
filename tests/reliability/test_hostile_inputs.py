"""Hostile uploads through the CLI: each refused in one sentence, nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from config import Settings
from retrieval.types import DataDir

from .hostile import BUILDERS

TITLE_CASES = [("x" * 5000, "limit is 200"), ("\x00\x01\x02", "empty")]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Settings:
    from config import load_settings

    data_dir = tmp_path_factory.mktemp("hostile")
    DataDir(data_dir).models.symlink_to(models_dir, target_is_directory=True)
    return load_settings(None, {"data_dir": data_dir})


def _run(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _titles(settings: Settings) -> list[str]:
    code, out, _ = _run(settings, "list", "--json")
    assert code == 0
    return [a["title"] for a in json.loads(out)]


@pytest.mark.parametrize("case", sorted(BUILDERS))
def test_each_hostile_file_is_refused_in_one_sentence_and_stores_nothing(
    case: str, settings: Settings, tmp_path: Path
) -> None:
    before = _titles(settings)
    name, data, phrase = BUILDERS[case]()
    path = tmp_path / name
    path.write_bytes(data)
    code, out, err = _run(settings, "ingest", str(path))
    assert code == 1, out
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert phrase.lower() in err.lower(), err
    assert _titles(settings) == before


@pytest.mark.parametrize(("title", "phrase"), TITLE_CASES)
def test_hostile_titles_are_refused(settings: Settings, tmp_path: Path, title: str,
                                   phrase: str) -> None:
    path = tmp_path / "fine.txt"
    path.write_text("A fine article about the harbour and its ferries, with a whole sentence.\n")
    code, _, err = _run(settings, "ingest", "--title", title, str(path))
    assert code == 1 and phrase in err, err


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost:8080/a", "http://10.1.2.3/", "http://169.254.169.254/",
    "http://[::1]/", "http://0.0.0.0/", "file:///etc/passwd", "ftp://example.org/a.txt",
    "gopher://127.0.0.1/",
])
def test_urls_to_private_addresses_or_other_schemes_are_refused(settings: Settings,
                                                               url: str) -> None:
    code, _, err = _run(settings, "ingest", url)
    assert code == 1 and err.startswith("Error: ") and err.count("\n") == 1, err
