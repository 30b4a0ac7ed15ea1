"""A quiet terminal: no dependency's log line reaches stderr unless -v or DEBUG asks for it."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from bot.logs import DependencyFilter
from config import Settings

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ", re.MULTILINE)


def articlebot(settings: Settings, *args: str, stdin: str | None = None
               ) -> subprocess.CompletedProcess[str]:
    """The real command in a new process, as a user runs it (a fresh data directory: the
    first question builds the BM25 index, which is when bm25s logs)."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--data-dir", str(settings.data_dir), *args],
        input=stdin, capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_ask_prints_the_answer_and_no_library_log_line(
    make_settings: Callable[..., Settings]
) -> None:
    result = articlebot(make_settings(), "ask", "Who is China's lead trade negotiator?")
    assert result.returncode == 0, result.stderr
    assert "He Lifeng" in result.stdout
    assert not LOG_LINE.search(result.stderr) and "bm25s" not in result.stderr
    assert result.stderr == ""


def test_chat_shows_no_library_log_line_between_question_and_answer(
    make_settings: Callable[..., Settings]
) -> None:
    result = articlebot(make_settings(), "chat",
                        stdin="Who is China's lead trade negotiator?\n\n")
    assert result.returncode == 0, result.stderr
    assert "He Lifeng" in result.stdout and not LOG_LINE.search(result.stdout)
    assert result.stderr == ""


@pytest.fixture()
def root_level() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


def record(name: str, level: int) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "message", None, None)


@pytest.mark.usefixtures("root_level")
def test_a_library_that_sets_its_own_debug_level_stays_quiet_until_asked() -> None:
    quiet = DependencyFilter(verbose=False)
    quiet.apply(logging.WARNING)
    assert not quiet.filter(record("bm25s", logging.DEBUG))
    assert not quiet.filter(record("faiss.loader", logging.INFO))
    assert quiet.filter(record("pypdf._reader", logging.WARNING))
    quiet.apply(logging.DEBUG)  # log_level = "DEBUG", or -vv
    assert quiet.filter(record("bm25s", logging.DEBUG))
    verbose = DependencyFilter(verbose=True)  # -v
    verbose.apply(logging.INFO)
    assert verbose.filter(record("sentence_transformers.base.model", logging.INFO))
    assert not verbose.filter(record("bm25s", logging.DEBUG))


@pytest.mark.usefixtures("root_level")
def test_the_bot_logs_discord_connection_and_our_own_info_but_not_other_libraries() -> None:
    running = DependencyFilter(verbose=False)
    running.apply("INFO")  # `articlebot run` with the default log_level
    assert logging.getLogger().level == logging.INFO
    assert running.filter(record("discord.gateway", logging.INFO))
    assert running.filter(record("articlebot.discord", logging.INFO))
    assert running.filter(record("retrieval.engine", logging.INFO))
    assert not running.filter(record("httpx", logging.INFO))
    assert not running.filter(record("urllib3.connectionpool", logging.DEBUG))
    assert not running.filter(record("trafilatura.core", logging.INFO))
