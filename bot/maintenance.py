"""``articlebot check``, ``backup`` and ``restore``: the SQLite backend's integrity check,
backups and restores (``retrieval.store.backups`` behind the Engine). None loads a model."""

from __future__ import annotations

from pathlib import Path

import click

from bot.context import Context, pass_context


@click.command(name="check")
@pass_context
def check_command(obj: Context) -> None:
    """Check every collection's database (one line each; exit 1 if any is damaged)."""
    results = obj.engine.check()
    if not results:
        click.echo("No collections yet.")
    for result in results:
        last = result.last_backup.name if result.last_backup else "none"
        if result.ok:
            noun = "article" if result.articles == 1 else "articles"
            click.echo(f"{result.collection}: ok ({result.articles} {noun}; last backup {last})")
        else:
            click.echo(f"{result.collection}: {result.detail} (last backup {last})")
    bad = sum(not r.ok for r in results)
    if bad:
        raise click.ClickException(f"{bad} of {len(results)} collections need attention.")


@click.command(name="backup")
@pass_context
def backup_command(obj: Context) -> None:
    """Back up every collection that changed since its last backup, now."""
    results = obj.engine.backup()
    if not results:
        click.echo("No collections yet.")
    for result in results:
        click.echo(f"{result.collection}: {result.path or result.skipped}")
    failed = sum(r.path is None and r.skipped.startswith("no backup") for r in results)
    if failed:
        raise click.ClickException(f"{failed} of {len(results)} collections were not backed up.")


@click.command(name="restore")
@click.argument("collection")
@click.option("--from", "source", type=click.Path(dir_okay=False, path_type=Path),
              help="A backup file, or its name among the collection's backups "
                   "(default: the newest).")
@pass_context
def restore_command(obj: Context, collection: str, source: Path | None) -> None:
    """Restore one collection from a backup (refused while another process writes to it)."""
    used = obj.engine.restore(collection, source)
    articles = obj.engine.list_articles(collection)
    noun = "article" if len(articles) == 1 else "articles"
    click.echo(f"Restored collection {collection} from {used} ({len(articles)} {noun}).")
