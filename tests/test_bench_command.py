"""``articlebot bench`` at toy sizes: every figure is there and plausible."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result

from bot.cli import cli
from config import Settings

STORIES = [
    ("Ad sales boost Time Warner profit",
     "Quarterly profits at US media giant TimeWarner jumped 76% to $1.13bn for the three "
     "months to December.\n\nThe firm, which is now one of the biggest investors in Google, "
     "benefited from sales of high-speed internet connections."),
    ("Dollar gains on Greenspan speech",
     "The dollar has hit its highest level against the euro in almost three months after "
     "the Federal Reserve head said the US trade deficit is set to stabilise."),
    ("Yukos unit buyer faces loan claim",
     "The owners of embattled Russian oil giant Yukos are to ask the buyer of its former "
     "production unit to pay back a $900m loan."),
]


def run_bench(settings: Settings, tmp_path: Path, *options: str) -> Result:
    """``articlebot bench --json`` at toy sizes on ``STORIES``, plus ``options``."""
    articles = tmp_path / "bbc.jsonl"
    articles.write_text("".join(
        json.dumps({"doc_id": f"bbc/{i}", "title": t, "text": x}) + "\n"
        for i, (t, x) in enumerate(STORIES)))
    return CliRunner().invoke(cli, [
        "--data-dir", str(settings.data_dir), "bench", "--articles", str(articles),
        "--ingest-articles", "3", "--queries", "5", "--asks", "2", "--json", *options])


def test_bench_reports_every_figure(make_settings: Callable[..., Settings],
                                    tmp_path: Path) -> None:
    result = run_bench(make_settings(), tmp_path, "--sizes", "300,1000")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ingest_articles"] == 3 and report["ingest_chunks"] >= 3
    assert report["ingest_chunks_per_s"] > 0 and report["ingest_vs_encode"] > 0
    for size in (300, 1000):
        assert 0 < report[f"search_{size}_p50_ms"] <= report[f"search_{size}_p95_ms"]
    assert 0 < report["ask_p50_s"] <= report["ask_p95_s"]
    assert report["decode_tokens_per_s"] > 0
    assert report["concurrent_errors"] == 0
    assert report["concurrent_asks_per_s"] > 0 and report["concurrent_ask_p95_s"] > 0
    assert report["concurrent_uploads_per_s"] > 0
    assert report["cold_start_s"] > report["cold_load_s"] > 0
    assert 100 < report["peak_rss_mb"] < 4000
    assert report["embedding_device"] and report["llm_device"] in {"cpu", "gpu"}


def test_the_bench_measures_sqlite_and_never_writes_into_a_shared_database(
    tmp_path: Path,
) -> None:
    from config import load_settings
    from retrieval.evaluation.benchmark import settings_for

    shared = load_settings(None, {"data_dir": tmp_path / "data", "llm.backend": "openai",
                                  "storage.backend": "postgres"})
    bench = settings_for(shared, tmp_path / "bench")
    assert (bench.storage.backend, bench.data_dir) == ("sqlite", tmp_path / "bench")
