"""``articlebot eval`` and ``articlebot bench``: measure answer quality and speed.

Only click is imported at module level, so ``articlebot --help`` stays instant; the engine,
the models and the runners load inside the commands.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from bot.cli import Context
    from config import Settings

SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def _progress(enabled: bool) -> Any:
    def wrap(items: Sequence[Any], label: str) -> Iterator[Any]:
        from tqdm import tqdm

        return iter(tqdm(items, desc=label, unit="item", file=sys.stderr, leave=False,
                         disable=not enabled))

    return wrap


def _default(path: Path) -> str | None:
    return str(path) if path.is_file() else None


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _print_table(rows: Sequence[tuple[str, Any, str]]) -> None:
    width = max(len(name) for name, _, _ in rows)
    for name, value, note in rows:
        click.echo(f"{name:<{width}}  {_fmt(value):>10}  {note}".rstrip())


EVAL_ROWS = [
    ("f1", "answer F1 on answerable questions (%)"),
    ("em", "exact match on answerable questions (%)"),
    ("hit_at_1", "a top-1 passage contains a gold answer (%)"),
    ("hit_at_5", "a top-5 passage contains a gold answer (%)"),
    ("mrr", "mean reciprocal rank of the first passage with a gold answer"),
    ("paragraph_hit_at_5", "a top-5 passage comes from the gold paragraph (%)"),
    ("context_hit", "the passages sent to the model contain a gold answer (%)"),
    ("context_tokens", "passage tokens sent to the model, mean"),
    ("abstain_unanswerable", "unanswerable questions abstained on (%)"),
    ("false_abstain", "answerable questions abstained on (%)"),
    ("abstain_off_topic", "off-topic questions abstained on (%)"),
    ("answered_unanswerable", "unanswerable questions answered anyway (count)"),
    ("answered_off_topic", "off-topic questions answered anyway (count)"),
    ("p50_s", "ask latency, median (s)"),
    ("p95_s", "ask latency, 95th percentile (s)"),
    ("first_token_p50_s", "time to the first answer token, median (s)"),
]


@click.command(name="eval")
@click.option("--articles", "articles_path", type=click.Path(exists=True, dir_okay=False),
              default=_default(SHARED_EVAL / "squad2-dev" / "articles.jsonl"), required=True,
              help="JSONL of {doc_id, title, text} (default: ../shared/eval/squad2-dev).")
@click.option("--questions", "questions_path", type=click.Path(exists=True, dir_okay=False),
              default=_default(SHARED_EVAL / "squad2-dev" / "questions.jsonl"), required=True,
              help="JSONL of {qid, doc_id, question, answers, answerable, paragraph}.")
@click.option("--limit", type=click.IntRange(min=1), default=250, show_default=True,
              help="Questions to ask: 60% answerable, 40% unanswerable.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--split-off-topic", is_flag=True,
              help="Ingest half the articles; also ask about the other half.")
@click.option("--per-article", is_flag=True,
              help="Put each article in a collection of its own and ask its questions there "
                   "(a server with one upload); default: all articles in one collection.")
@click.option("--reuse-index", is_flag=True,
              help="Keep the ingested collection and reuse it when the articles, embedding "
                   "and chunking settings are unchanged.")
@click.option("--out", type=click.File("w"), help="Write one JSON object per question here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def eval_command(obj: Context, articles_path: str, questions_path: str, limit: int, seed: int,
                 split_off_topic: bool, per_article: bool, reuse_index: bool, out: Any,
                 as_json: bool) -> None:
    """Score answers and retrieval on SQuAD-style questions through the bot's own ask path."""
    from retrieval.eval_runner import run_eval

    report = run_eval(obj.engine, Path(articles_path), Path(questions_path), limit=limit,
                      seed=seed, split_off_topic=split_off_topic, per_article=per_article,
                      reuse_index=reuse_index,
                      out=out, progress=_progress(not as_json))
    report["settings"] = _answer_settings(obj.settings)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"{report['questions']} questions ({report['answerable']} answerable, "
               f"{report['unanswerable']} unanswerable, {report['off_topic']} off-topic), "
               f"{report['articles']} articles ({report['shape']}), seed {seed}")
    rows = [(k, report.get(k), note) for k, note in EVAL_ROWS if k in report]
    for kind, figures in report.get("by_kind", {}).items():
        rows.append((f"f1[{kind}]", figures["f1"],
                     f"{figures['questions']} questions, EM {_fmt(figures['em'])}, "
                     f"false abstention {_fmt(figures['false_abstain'])}%"))
    _print_table(rows)


def _answer_settings(settings: Settings) -> dict[str, Any]:
    return {section: getattr(settings, section).model_dump()
            for section in ("chunking", "search", "answer")}


@click.command(name="bench")
@click.option("--articles", "articles_path", type=click.Path(exists=True, dir_okay=False),
              default=_default(SHARED_EVAL / "bbc-news" / "articles.jsonl"), required=True,
              help="JSONL of {doc_id, title, text} to ingest (default: ../shared/eval/bbc-news).")
@click.option("--ingest-articles", type=click.IntRange(min=1), default=200, show_default=True,
              help="Articles ingested for the throughput figure.")
@click.option("--sizes", default="1000,10000,100000", show_default=True,
              help="Collection sizes (chunks) for search latency.")
@click.option("--queries", type=click.IntRange(min=5), default=200, show_default=True,
              help="Queries timed per collection size.")
@click.option("--asks", type=click.IntRange(min=2), default=40, show_default=True,
              help="Questions timed for ask latency.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def bench_command(obj: Context, articles_path: str, ingest_articles: int, sizes: str,
                  queries: int, asks: int, as_json: bool) -> None:
    """Time ingestion, search, answers, cold start and memory on this machine."""
    from retrieval.benchmark import BENCH_ROWS, run_bench

    try:
        chunk_sizes = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("give sizes as numbers separated by commas",
                                 param_hint="--sizes") from None
    report = run_bench(obj.settings, Path(articles_path), ingest_articles=ingest_articles,
                       sizes=chunk_sizes, queries=queries, asks=asks,
                       progress=_progress(not as_json))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    _print_table([(k, report.get(k), note) for k, note in BENCH_ROWS if k in report])
