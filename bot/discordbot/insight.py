"""``/insight``: what a server's admins learn from the question log, privately.

``unanswered`` (abstained or 👎'd questions, grouped by meaning), ``stats`` (7 and 30 days),
``export`` (CSV), ``log on`` / ``log off`` (this server's switch) and ``forget`` (erase the
log). Only for members with Manage Server or the configured admin role; every reply is
ephemeral, and each server reads only its own log (its own collection).
"""

from __future__ import annotations

import io
from typing import Any

import discord
from discord import app_commands

from bot.discordbot import format as fmt
from bot.discordbot.checks import require_admin
from bot.discordbot.dispatch import Dispatcher, Refusal
from bot.discordbot.guards import collection_for
from bot.discordbot.split import split_message
from bot.discordbot.stream import NO_MENTIONS
from bot.insight_text import stats_text, unanswered_text
from config import Settings
from retrieval.engine import Engine

UNANSWERED_SHOWN = 10


class InsightCommands:
    """The ``/insight`` group over one Engine; ``add_to`` puts it on the command tree."""

    def __init__(self, engine: Engine, dispatcher: Dispatcher, settings: Settings) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.settings = settings

    def add_to(self, tree: app_commands.CommandTree[Any]) -> None:
        group = app_commands.Group(name="insight", guild_only=True,
                                   allowed_contexts=app_commands.AppCommandContext(guild=True),
                                   description="Admins: what members asked and how it went.")
        if not self.settings.discord.admin_role:
            # Hidden from members (server admins can change that under Integrations).
            group.default_permissions = discord.Permissions(manage_guild=True)
        switch = app_commands.Group(name="log", parent=group,
                                    description="Admins: keep this server's question log or not.")
        for parent, name, handler in (
                (group, "unanswered", self.unanswered), (group, "stats", self.stats),
                (group, "export", self.export), (group, "forget", self.forget),
                (switch, "on", self.log_on), (switch, "off", self.log_off)):
            description = " ".join((handler.__doc__ or "…").split())
            parent.add_command(app_commands.Command(name=name, description=description,
                                                    callback=handler))
        tree.add_command(group)

    # -- the commands -----------------------------------------------------------------
    async def unanswered(self, interaction: discord.Interaction[Any]) -> None:
        """Questions the bot could not answer or that got a 👎, grouped by meaning."""
        collection = await self._begin(interaction)
        groups = await self.dispatcher.lookup(self.engine.feedback.unanswered, collection,
                                              limit=UNANSWERED_SHOWN)
        await _reply(interaction, unanswered_text(groups, fmt.escape))

    async def stats(self, interaction: discord.Interaction[Any]) -> None:
        """Questions, answered share, 👍/👎, latency and most cited articles."""
        collection = await self._begin(interaction)
        feedback = self.engine.feedback
        periods = await self.dispatcher.lookup(feedback.stats, collection)
        on = await self.dispatcher.lookup(feedback.enabled, collection)
        state = (f"The question log is on (entries kept {self.settings.log.retention_days} "
                 "days)." if on else "The question log is off: nothing new is recorded.")
        await _reply(interaction, f"{state}\n{stats_text(periods, fmt.escape)}")

    async def export(self, interaction: discord.Interaction[Any]) -> None:
        """This server's question log as a CSV file."""
        collection = await self._begin(interaction)
        data = (await self.dispatcher.lookup(self.engine.feedback.export, collection)).encode()
        if len(data) > interaction.filesize_limit:
            raise Refusal("The log is too large to attach here; the host can run "
                          "`articlebot export`.")
        await interaction.edit_original_response(
            content="This server's question log (CSV; voters are not included).",
            attachments=[discord.File(io.BytesIO(data), filename="question-log.csv")],
            allowed_mentions=NO_MENTIONS)

    async def forget(self, interaction: discord.Interaction[Any]) -> None:
        """Erase this server's question log and its votes."""
        collection = await self._begin(interaction)
        erased = await self.dispatcher.lookup(self.engine.feedback.forget, collection)
        await _reply(interaction, f"Erased {erased} logged question{'s' * (erased != 1)} "
                                  "and their votes.")

    async def log_on(self, interaction: discord.Interaction[Any]) -> None:
        """Keep this server's questions, answers and votes (for /insight)."""
        await self._switch(interaction, True)

    async def log_off(self, interaction: discord.Interaction[Any]) -> None:
        """Stop keeping this server's questions (what is kept stays until erased/expired)."""
        await self._switch(interaction, False)

    # -- helpers ----------------------------------------------------------------------
    async def _begin(self, interaction: discord.Interaction[Any]) -> str:
        """Refuse non-admins (a private sentence), defer privately; this server's collection."""
        if interaction.guild_id is None:
            raise Refusal("The question log is per server; use /insight in a server.")
        require_admin(interaction, self.settings.discord.admin_role)
        await interaction.response.defer(ephemeral=True)
        return collection_for(interaction.guild_id, self.settings.default_collection)

    async def _switch(self, interaction: discord.Interaction[Any], on: bool) -> None:
        collection = await self._begin(interaction)
        await self.dispatcher.lookup(self.engine.feedback.set_enabled, collection, on)
        days = self.settings.log.retention_days
        text = (f"The question log is on for this server: questions, answers and votes are "
                f"kept {days} days." if on else
                "The question log is off for this server: nothing new is recorded and no "
                "vote buttons are shown. What is kept stays until it expires "
                f"({days} days) or /insight forget erases it.")
        await _reply(interaction, text)


async def _reply(interaction: discord.Interaction[Any], text: str) -> None:
    """Into the deferred private response, split at 2,000 characters."""
    parts = split_message(text) or ["…"]
    await interaction.edit_original_response(content=parts[0], allowed_mentions=NO_MENTIONS)
    for part in parts[1:]:
        await interaction.followup.send(part, ephemeral=True, allowed_mentions=NO_MENTIONS)
