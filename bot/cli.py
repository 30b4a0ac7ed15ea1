"""The ``articlebot`` command line: a thin adapter from arguments to Engine calls.

Exit codes: 0 success, 1 a user error (one sentence on stderr), 2 usage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.context import Context, Group, pass_context
from bot.insight_cli import export, stats, unanswered
from bot.maintenance import backup_command, check_command, migrate_command, restore_command
from bot.measure import bench_command, eval_command
from bot.run import run_command
from bot.training_cli import calibrate_reader_command, train_check_command, train_reader_command

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.types import Answer, IngestResult


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", envvar="ARTICLEBOT_DATA_DIR", type=click.Path(file_okay=False),
              help="Where articles, indexes and models are kept.")
@click.option("--config", "config_file", envvar="ARTICLEBOT_CONFIG",
              type=click.Path(dir_okay=False), help="A TOML settings file.")
@click.option("-v", "--verbose", count=True,
              help="Log progress to stderr, the libraries' too (-vv: debug detail).")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, config_file: str | None, verbose: int) -> None:
    """Answer questions about news articles with a local LLM, with citations."""
    from bot.logs import setup_logging

    ctx.obj = Context(config_file, {"data_dir": data_dir})
    ctx.obj.logs = setup_logging(verbose)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


# -- ingest / list / remove ---------------------------------------------------------------
def _expand(targets: tuple[str, ...]) -> Iterator[str]:
    from retrieval.errors import InputError
    from retrieval.ingest.documents import SUPPORTED_SUFFIXES, SUPPORTED_TYPES

    for target in targets:
        if "://" in target:
            yield target
            continue
        path = Path(target)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and
                           p.suffix.lower() in SUPPORTED_SUFFIXES)
            if not files:
                raise InputError(f"{path} contains no {SUPPORTED_TYPES} files.")
            yield from map(str, files)
        else:
            yield target


def _ingest_one(engine: Engine, target: str, title: str | None, collection: str | None
                ) -> IngestResult:
    if "://" in target:
        return engine.ingest_url(target, collection=collection, title=title)
    return engine.ingest_path(Path(target), collection=collection, title=title)


def _describe(result: IngestResult) -> str:
    a = result.article
    verb = {"added": "Stored", "replaced": "Replaced", "unchanged": "Already stored"}[
        result.status]
    return (f"{verb} {a.title!r} (id {a.id}, {a.chunks} chunks, "
            f"{result.seconds:.2f} s)")


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="PATH_OR_URL...")
@click.option("--title", help="Title to store the article under (one article only).")
@click.option("--collection", help="Collection to store into (default: the default one).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_context
def ingest(obj: Context, targets: tuple[str, ...], title: str | None, collection: str | None,
           as_json: bool) -> None:
    """Store articles: txt, md, html or pdf files, folders of them, or http(s) URLs."""
    from tqdm import tqdm

    from retrieval.errors import ArticlebotError

    items = list(_expand(targets))
    if title is not None and len(items) > 1:
        raise click.UsageError("--title applies to one article; give one file or URL.")
    engine = obj.engine
    if len(items) == 1:  # one input: its error is the command's error
        result = _ingest_one(engine, items[0], title, collection)
        if as_json:
            _echo_json([result.to_json()])
        else:
            click.echo(_describe(result))
        return
    results: list[dict[str, Any]] = []
    failures = 0
    bar = tqdm(total=len(items), unit="file", disable=len(items) < 5 or as_json,
               file=sys.stderr)

    def report(item: object, outcome: IngestResult | ArticlebotError) -> None:
        nonlocal failures
        bar.update()
        if isinstance(outcome, ArticlebotError):
            failures += 1
            tqdm.write(f"Error: {outcome}", file=sys.stderr)
            return
        results.append(outcome.to_json())
        if not as_json:
            tqdm.write(_describe(outcome))

    urls = [item for item in items if "://" in item]
    for url in urls:
        try:
            report(url, _ingest_one(engine, url, None, collection))
        except ArticlebotError as exc:
            report(url, exc)
    # Files go through together: their chunks are embedded in large batches.
    files = [Path(item) for item in items if "://" not in item]
    engine.ingest_paths(files, collection=collection, on_result=report)
    bar.close()
    if as_json:
        _echo_json(results)
    if failures:
        raise click.ClickException(f"{failures} of {len(items)} inputs could not be stored.")


@cli.command(name="list")
@click.option("--collection", help="Collection to list (default: the default one).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
def list_(obj: Context, collection: str | None, as_json: bool) -> None:
    """List the stored articles."""
    articles = obj.engine.list_articles(collection)
    if as_json:
        _echo_json([a.to_json() for a in articles])
        return
    if not articles:
        click.echo("No articles yet: add some with `articlebot ingest`.")
    for a in articles:
        click.echo(f"{a.id:>5}  {a.title}  ({a.chunks} chunks, added {a.added_at[:10]})")


@cli.command()
@click.argument("article")
@click.option("--collection", help="Collection to remove from.")
@pass_context
def remove(obj: Context, article: str, collection: str | None) -> None:
    """Remove an article by id or title."""
    info = obj.engine.remove(article, collection)
    click.echo(f"Removed {info.title!r} (id {info.id}).")


# -- questions ------------------------------------------------------------------------------
def _print_citations(answer: Answer) -> None:
    for number, c in enumerate(answer.citations, 1):
        click.echo(f"  [{number}] {c.title}, paragraph {c.paragraph + 1}: “{c.quote}”")


def _ask_streaming(engine: Engine, question: str, **kwargs: Any) -> Answer:
    streamed: list[str] = []

    def show(token: str) -> None:
        if not streamed:
            token = token.lstrip()
        streamed.append(token)
        click.echo(token, nl=False)
        sys.stdout.flush()

    answer = _logged(engine, question, engine.ask(question, on_token=show, **kwargs),
                     kwargs.get("collection"))
    if not streamed:
        click.echo(answer.text)
    elif answer.abstained:
        click.echo(f"\n(Not supported by the articles.) {answer.text}")
    else:
        click.echo()
    _print_citations(answer)
    return answer


def _logged(engine: Engine, question: str, answer: Answer, collection: str | None) -> Answer:
    """The question log keeps CLI questions too with ``log.cli`` (and the log on); a log
    that cannot be written costs a warning on stderr, never the answer."""
    from retrieval.errors import ArticlebotError

    try:
        engine.feedback.record(question, answer, collection=collection,
                               latency_s=answer.timings.get("total_s", 0.0), source="cli")
    except ArticlebotError as exc:
        click.echo(f"Warning: the question was not logged: {exc}", err=True)
    return answer


@cli.command()
@click.argument("question")
@click.option("--article", help="Only search this article (id or title).")
@click.option("--collection", help="Collection to search.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_context
def ask(obj: Context, question: str, article: str | None, collection: str | None,
        as_json: bool) -> None:
    """Answer a question from the stored articles, with citations."""
    engine = obj.engine
    if as_json:
        answer = engine.ask(question, article=article, collection=collection)
        _echo_json(_logged(engine, question, answer, collection).to_json())
    else:
        _ask_streaming(engine, question, article=article, collection=collection)


@cli.command()
@click.option("--article", help="Only search this article (id or title).")
@click.option("--collection", help="Collection to search.")
@pass_context
def chat(obj: Context, article: str | None, collection: str | None) -> None:
    """Ask questions in a loop; follow-ups use the previous turns. Ctrl-D to leave."""
    from retrieval.errors import InputError
    from retrieval.types import Turn

    engine = obj.engine
    history: list[Turn] = []
    click.echo("Ask about the articles (empty line or Ctrl-D to leave).")
    while True:
        try:
            question = input("> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if not question.strip() or question.strip().lower() in {"exit", "quit"}:
            return
        try:
            answer = _ask_streaming(engine, question, article=article, collection=collection,
                                    history=history)
        except InputError as exc:
            click.echo(f"Error: {exc}", err=True)
            continue
        history.append(Turn(question, answer.text))


@cli.command()
@click.argument("article", required=False)
@click.option("--length", type=click.Choice(["short", "long"]), default="short",
              show_default=True)
@click.option("--collection", help="Collection the article is in.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_context
def summary(obj: Context, article: str | None, length: str, collection: str | None,
            as_json: bool) -> None:
    """Summarise one whole article (id or title; optional when there is only one)."""
    engine = obj.engine
    if as_json:
        result = engine.summarize(article, collection=collection, length=length)  # type: ignore[arg-type]
        _echo_json(result.to_json())
        return
    result = engine.summarize(article, collection=collection, length=length,  # type: ignore[arg-type]
                              on_token=lambda t: click.echo(t, nl=False))
    click.echo(f"\n  — {result.article.title}" + (" (cached)" if result.cached else ""))


cli.add_command(eval_command)
cli.add_command(bench_command)
cli.add_command(train_check_command)
cli.add_command(train_reader_command)
cli.add_command(calibrate_reader_command)
cli.add_command(run_command)  # light: discord is imported when it runs
cli.add_command(unanswered)  # the question log: bot.insight_cli
cli.add_command(stats)
cli.add_command(export)
cli.add_command(check_command)
cli.add_command(backup_command)
cli.add_command(restore_command)
cli.add_command(migrate_command)


def main() -> None:
    cli(prog_name="articlebot")


if __name__ == "__main__":
    main()
