"""Damaging a collection's database the way disks and operators do, and a command line on
the fast tier's doubles, for the storage fault tests."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes import HashingEmbedder, QueuedLLM

from bot.cli import cli
from config import Settings
from retrieval.engine import Engine
from retrieval.store.collection import STORE_FILE
from retrieval.types import DataDir

HARBOUR = (b"Harbour News\n\nThe ferry to Skye now leaves Mallaig every hour, the harbour master "
           b"Morag Campbell said on Monday.\n\nTicket prices for the ferry rise to nine pounds "
           b"in June.\n")
FERRY_QUESTION = "How often does the ferry to Skye leave Mallaig?"
# The retrieval gate is calibrated for MiniLM's scores: open here, so the double is asked.
OPEN_GATE = {"search.min_score": -1.0, "search.min_support": -10.0}


def answering_llm() -> QueuedLLM:
    return QueuedLLM(default=lambda prompt: "every hour")


def store_file(settings: Settings, collection: str) -> Path:
    return DataDir(settings.data_dir).collection(collection) / STORE_FILE


def damage(path: Path, tables: tuple[str, ...] = ("articles", "chunks")) -> None:
    """A bad sector over the pages the answers come from: the root pages of ``tables``
    overwritten with garbage (the file's middle would depend on how many tables the schema
    has, and an unused page is damage nobody meets)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        roots = [db.execute("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND "
                            "name = ?", (table,)).fetchone()[0] for table in tables]
    with open(path, "r+b") as handle:
        for root in roots:
            handle.seek((root - 1) * page_size)
            handle.write(bytes(range(256)) * (page_size // 256))
        handle.flush()
        os.fsync(handle.fileno())


class Cli:
    """``articlebot`` run in-process on the fast tier's doubles (each call a new Engine, as
    each command is a new process)."""

    def __init__(self, settings: Settings, monkeypatch: pytest.MonkeyPatch):
        self.settings = settings
        real = Engine

        def fast(settings: Settings, **kwargs: Any) -> Engine:
            return real(settings, embedder=HashingEmbedder(), llm=answering_llm(), **kwargs)

        monkeypatch.setattr("retrieval.engine.Engine", fast)
        for key, value in {"reader.model": "off", **OPEN_GATE}.items():
            monkeypatch.setenv("ARTICLEBOT_" + key.upper().replace(".", "__"), str(value))

    def __call__(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli, ["--data-dir", str(self.settings.data_dir), *args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr


CliFactory = Callable[[Settings], Cli]
