"""``articlebot unanswered``, ``stats`` and ``export``: the question log of a collection
(a server's is ``guild-<server id>``), as ``/insight`` shows it in Discord."""

from __future__ import annotations

import json
from typing import Any

import click

from bot.context import Context, pass_context
from bot.insight_text import stats_text, unanswered_text


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


@click.command()
@click.option("--collection", help="Collection whose log to read (default: the default one).")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="How many groups to show.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of groups.")
@pass_context
def unanswered(obj: Context, collection: str | None, limit: int, as_json: bool) -> None:
    """Questions the bot abstained on or that got a 👎, grouped by meaning."""
    groups = obj.engine.feedback.unanswered(collection, limit=limit)
    if as_json:
        _echo_json([g.to_json() for g in groups])
    else:
        click.echo(unanswered_text(groups))


@click.command()
@click.option("--collection", help="Collection whose log to read (default: the default one).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_context
def stats(obj: Context, collection: str | None, as_json: bool) -> None:
    """Questions, answered share, 👍/👎, latency and most cited articles (7 and 30 days)."""
    feedback = obj.engine.feedback
    periods = feedback.stats(collection)
    if as_json:
        _echo_json({"collection": collection or obj.settings.default_collection,
                    "logging": feedback.enabled(collection),
                    "periods": [p.to_json() for p in periods]})
    else:
        click.echo(stats_text(periods))


@click.command()
@click.option("--collection", help="Collection whose log to export (default: the default one).")
@click.option("--out", type=click.File("w", encoding="utf-8"), default="-",
              help="Write the CSV here (default: standard output).")
@pass_context
def export(obj: Context, collection: str | None, out: Any) -> None:
    """The question log as CSV (voters are not exported)."""
    out.write(obj.engine.feedback.export(collection))
