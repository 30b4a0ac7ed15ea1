"""``articlebot eval`` and ``articlebot bench``: measure answer quality and speed.

Only click is imported at module level, so ``articlebot --help`` stays instant; the engine,
the models and the runners load inside the commands.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import click

if TYPE_CHECKING:
    from bot.context import Context
    from config import Settings

EVAL_DIR_ENV = "ARTICLEBOT_EVAL_DIR"


def eval_dir() -> Path | None:
    """Where the evaluation sets are: ``$ARTICLEBOT_EVAL_DIR``, else the first ``shared/eval``
    in the current directory or above it (``../shared/eval`` beside a clone of this repo)."""
    configured = os.environ.get(EVAL_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "shared" / "eval").is_dir():
            return folder / "shared" / "eval"
    return None


def find_eval_file(*parts: str) -> str | None:
    """A default data file inside ``eval_dir()``, when it is there."""
    root = eval_dir()
    path = root.joinpath(*parts) if root is not None else None
    return str(path) if path is not None and path.is_file() else None


def _eval_files(articles: str | None, questions: str | None) -> tuple[Path, Path]:
    """The eval data: what was passed, else squad2-dev/ in ``eval_dir()``; else one sentence
    saying what is missing and how to pass it."""
    articles = articles or find_eval_file("squad2-dev", "articles.jsonl")
    questions = questions or find_eval_file("squad2-dev", "questions.jsonl")
    if articles is None or questions is None:
        options = " and ".join(option for option, given in
                               (("--articles FILE", articles), ("--questions FILE", questions))
                               if given is None)
        raise click.ClickException(
            f"No SQuAD-style evaluation data found (squad2-dev/ in ${EVAL_DIR_ENV}, or in a "
            f"shared/eval folder in or above this directory): pass {options}.")
    return Path(articles), Path(questions)


def _progress(enabled: bool) -> Any:
    def wrap(items: Sequence[Any], label: str) -> Iterator[Any]:
        from tqdm import tqdm

        return iter(tqdm(items, desc=label, unit="item", file=sys.stderr, leave=False,
                         disable=not enabled))

    return wrap


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
    ("reader_auc_unanswerable", "reader margin: answerable vs unanswerable, AUC"),
    ("reader_auc_off_topic", "reader margin: answerable vs off-topic, AUC"),
    ("p50_s", "ask latency, median (s)"),
    ("p95_s", "ask latency, 95th percentile (s)"),
    ("first_token_p50_s", "time to the first answer token, median (s)"),
]


@click.command(name="eval")
@click.option("--articles", "articles_path", type=click.Path(exists=True, dir_okay=False),
              help="JSONL of {doc_id, title, text} (default: squad2-dev/articles.jsonl in "
                   "$ARTICLEBOT_EVAL_DIR or ../shared/eval).")
@click.option("--questions", "questions_path", type=click.Path(exists=True, dir_okay=False),
              help="JSONL of {qid, doc_id, question, answers, answerable, paragraph} "
                   "(default: squad2-dev/questions.jsonl, as --articles).")
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
@click.option("--summaries", is_flag=True,
              help="Score summaries instead: --limit articles (default 100) from --articles "
                   "(default ../shared/eval/bbc-news).")
@click.pass_obj
def eval_command(obj: Context, articles_path: str | None, questions_path: str | None,
                 limit: int, seed: int, split_off_topic: bool, per_article: bool,
                 reuse_index: bool, out: Any, as_json: bool, summaries: bool) -> None:
    """Score answers and retrieval on SQuAD-style questions through the bot's own ask path."""
    from retrieval.evaluation.answer_eval import run_eval
    from retrieval.evaluation.reader_training import trained_articles

    if summaries:
        _summary_eval(obj, articles_path, limit, seed, out, as_json)
        return
    articles, questions = _eval_files(articles_path, questions_path)
    report = run_eval(obj.engine, articles, questions, limit=limit,
                      seed=seed, split_off_topic=split_off_topic, per_article=per_article,
                      reuse_index=reuse_index, out=out, progress=_progress(not as_json),
                      skip_articles=trained_articles(obj.settings.reader.model))
    report["settings"] = _answer_settings(obj.settings)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"{report['questions']} questions ({report['answerable']} answerable, "
               f"{report['unanswerable']} unanswerable, {report['off_topic']} off-topic), "
               f"{report['articles']} articles ({report['shape']}), seed {seed}")
    if report.get("trained_articles_left_out"):
        click.echo(f"Left out the {report['trained_articles_left_out']} articles the reader "
                   "trained on.")
    rows = [(k, report.get(k), note) for k, note in EVAL_ROWS if k in report]
    for kind, figures in report.get("by_kind", {}).items():
        rows.append((f"f1[{kind}]", figures["f1"],
                     f"{figures['questions']} questions, EM {_fmt(figures['em'])}, "
                     f"false abstention {_fmt(figures['false_abstain'])}%"))
    _print_table(rows)


def _summary_eval(obj: Context, articles_path: str | None, limit: int, seed: int, out: Any,
                  as_json: bool) -> None:
    from click.core import ParameterSource

    from retrieval.evaluation.summary_eval import SUMMARY_ROWS, run_summary_eval

    given = click.get_current_context().get_parameter_source
    articles_path = articles_path or find_eval_file("bbc-news", "articles.jsonl")
    if articles_path is None:
        raise click.ClickException(
            f"No articles to summarise found (bbc-news/ in ${EVAL_DIR_ENV}, or in a shared/eval "
            "folder in or above this directory): pass --articles FILE.")
    if given("limit") == ParameterSource.DEFAULT:
        limit = 100
    report = run_summary_eval(obj.engine, Path(articles_path), limit=limit, seed=seed, out=out,
                              progress=_progress(not as_json))
    report["settings"] = obj.settings.model_dump(include={"summary"}, mode="json") \
        if hasattr(obj.settings, "summary") else {}
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    _print_table([(k, report.get(k), note) for k, note in SUMMARY_ROWS if k in report])


def _answer_settings(settings: Settings) -> dict[str, Any]:
    return {section: getattr(settings, section).model_dump()
            for section in ("chunking", "search", "answer", "reader")}


@click.command(name="bench")
@click.option("--articles", "articles_path", type=click.Path(exists=True, dir_okay=False),
              help="JSONL of {doc_id, title, text} to ingest (default: bbc-news/articles.jsonl "
                   "in $ARTICLEBOT_EVAL_DIR or ../shared/eval; without it, the sample article "
                   "and text made from it).")
@click.option("--ingest-articles", type=click.IntRange(min=1), default=200, show_default=True,
              help="Articles ingested for the throughput figure.")
@click.option("--sizes", default="1000,10000,100000", show_default=True,
              help="Collection sizes (chunks) for search latency.")
@click.option("--queries", type=click.IntRange(min=5), default=200, show_default=True,
              help="Queries timed per collection size.")
@click.option("--asks", type=click.IntRange(min=2), default=40, show_default=True,
              help="Questions timed for ask latency.")
@click.option("--backend", type=click.Choice(["sqlite", "postgres", "both"]), default="sqlite",
              show_default=True,
              help="The store timed: SQLite in a temporary directory, PostgreSQL in "
                   "$ARTICLEBOT_DATABASE_URL (in collections bench-<random>, dropped "
                   "afterwards), or both side by side.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def bench_command(obj: Context, articles_path: str | None, ingest_articles: int, sizes: str,
                  queries: int, asks: int, backend: str, as_json: bool) -> None:
    """Time ingestion, search, answers, cold start and memory on this machine."""
    from retrieval.evaluation.benchmark import BENCH_ROWS, reach_postgres, run_bench

    try:
        chunk_sizes = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("give sizes as numbers separated by commas",
                                 param_hint="--sizes") from None
    backends: tuple[Literal["sqlite", "postgres"], ...] = (
        ("sqlite", "postgres") if backend == "both"
        else (cast(Literal["sqlite", "postgres"], backend),))
    if "postgres" in backends:  # an unreachable database is said before minutes of SQLite
        reach_postgres(obj.settings)
    articles_path = articles_path or find_eval_file("bbc-news", "articles.jsonl")
    if articles_path is None:
        click.echo(f"No BBC News set found (bbc-news/ in ${EVAL_DIR_ENV} or a shared/eval "
                   "folder): timing the sample article and text made from it.", err=True)
    source = Path(articles_path) if articles_path else None
    reports: dict[str, dict[str, Any]] = {
        name: run_bench(obj.settings, source, ingest_articles=ingest_articles,
                        sizes=chunk_sizes, queries=queries, asks=asks,
                        progress=_progress(not as_json), backend=name)
        for name in backends}
    if as_json:
        click.echo(json.dumps(reports if len(reports) > 1 else reports[backends[0]],
                              ensure_ascii=False, indent=2))
    elif len(reports) == 1:
        report = reports[backends[0]]
        _print_table([(k, report.get(k), note) for k, note in BENCH_ROWS if k in report])
    else:
        _print_side_by_side(reports, BENCH_ROWS)


def _print_side_by_side(reports: dict[str, dict[str, Any]],
                        rows: Sequence[tuple[str, str]]) -> None:
    shown = [(k, note) for k, note in rows if any(k in r for r in reports.values())]
    width = max(len(k) for k, _ in shown)
    click.echo(f"{'':<{width}}  " + "  ".join(f"{name:>10}" for name in reports))
    for key, note in shown:
        values = "  ".join(f"{_fmt(r.get(key)):>10}" for r in reports.values())
        click.echo(f"{key:<{width}}  {values}  {note}".rstrip())
