"""``articlebot run``: start the Discord bot (``bot.discordbot.serve``).

discord.py is imported only when the command runs, so ``articlebot --help`` stays instant.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bot.context import Context


@click.command(name="run")
@click.pass_obj
def run_command(obj: Context) -> None:
    """Run the Discord bot (the token is read from DISCORD_TOKEN)."""
    from bot.discordbot.serve import TOKEN_ENV, serve

    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise click.ClickException(f"{TOKEN_ENV} is not set: export the bot token from the "
                                   "Discord Developer Portal (see the README, Discord).")
    settings = obj.settings
    if obj.logs is not None:
        obj.logs.apply(settings.log_level)
    asyncio.run(serve(settings, obj.engine, token=token))
