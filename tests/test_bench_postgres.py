"""The PostgreSQL side of ``articlebot bench`` and of the search-design measurements, at toy
sizes on the test server (``postgres_fixture.py``): every figure is there, nothing is left in
the database, the connection string is never printed. No timing is asserted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner
from postgres_fixture import PASSWORD
from test_bench_command import run_bench
from test_pgvector_search import leftovers

from bot.cli import cli
from bot.measure import _print_side_by_side
from config import Settings


def test_bench_times_postgres_and_drops_what_it_stored(
    pg_url: str, make_settings: Callable[..., Settings], tmp_path: Path,
) -> None:
    result = run_bench(make_settings(), tmp_path, "--sizes", "300", "--backend", "postgres")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output and pg_url not in result.output
    report = json.loads(result.stdout)
    assert report["backend"] == "postgres"
    assert report["ingest_articles"] == 3 and report["ingest_chunks"] >= 3
    assert report["ingest_chunks_per_s"] > 0
    assert report["generation_check_p50_ms"] > 0
    for design in ("search", "pgvector", "pgvector_hnsw"):
        assert 0 < report[f"{design}_300_p50_ms"] <= report[f"{design}_300_p95_ms"]
    assert 0 <= report["pgvector_hnsw_300_recall"] <= 1 and report["hnsw_build_300_s"] >= 0
    assert 0 < report["ask_p50_s"] <= report["ask_p95_s"]
    assert report["concurrent_errors"] == 0 and report["concurrent_uploads_per_s"] > 0
    assert "cold_start_s" not in report  # the models' figure: SQLite's run measures it
    assert leftovers(pg_url) == ([], [], 0)


def test_both_backends_print_side_by_side(capsys: object) -> None:
    _print_side_by_side({"sqlite": {"search_1000_p50_ms": 0.5},
                         "postgres": {"search_1000_p50_ms": 1.25, "pgvector_1000_p50_ms": 4.0}},
                        [("search_1000_p50_ms", "hybrid search"),
                         ("pgvector_1000_p50_ms", "design (b)"), ("cold_start_s", "absent")])
    lines = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
    assert lines[0].split() == ["sqlite", "postgres"]
    assert lines[1].split() == ["search_1000_p50_ms", "0.5", "1.25", "hybrid", "search"]
    assert lines[2].split()[:3] == ["pgvector_1000_p50_ms", "–", "4"]
    assert len(lines) == 3


def test_bench_on_postgres_without_a_database_is_one_sentence_before_any_work(
    tmp_path: Path, monkeypatch: object,
) -> None:
    monkeypatch.delenv("ARTICLEBOT_DATABASE_URL", raising=False)  # type: ignore[attr-defined]
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "bench", "--backend",
                                      "both"])
    assert result.exit_code == 1
    assert "ARTICLEBOT_DATABASE_URL is not set" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "collections").exists()
