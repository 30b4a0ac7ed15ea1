"""``articlebot check``, ``backup`` and ``restore``: the SQLite backend's integrity check,
backups and restores (``retrieval.store.backups`` behind the Engine); ``migrate``: its data
into PostgreSQL. None loads a model."""

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


@click.command(name="migrate")
@click.option("--to", "target", type=click.Choice(["postgres"]), required=True,
              help="The store to copy into (its connection string: ARTICLEBOT_DATABASE_URL).")
@pass_context
def migrate_command(obj: Context, target: str) -> None:
    """Copy the data directory's collections, question logs and follow-up memory into
    PostgreSQL (running it again is harmless; exit 1 unless the target holds everything)."""
    results = obj.engine.migrate("postgres")
    if not results:
        click.echo("No collections yet.")
    for r in results:
        if not r.ok:
            click.echo(f"{r.collection}: {r.detail}")
        elif r.kind == "memory":
            click.echo(f"{r.collection}: {r.items} conversations in PostgreSQL "
                       f"({r.copied} copied now)")
        elif r.kind == "log":
            click.echo(f"{r.collection}: question log: {r.items} entries, {r.chunks} votes in "
                       f"PostgreSQL ({r.copied} copied now)")
        else:
            click.echo(f"{r.collection}: {r.items} articles, {r.chunks} passages in PostgreSQL "
                       f"({r.copied} copied now){'; ' + r.detail if r.detail else ''}")
    bad = sum(not r.ok for r in results)
    if bad:
        raise click.ClickException(f"{bad} of {len(results)} were not copied whole; "
                                   "run the command again.")
    if results:
        click.echo('Done: set storage.backend = "postgres" on every host.')
