"""The slash commands. Each command's docstring is its description in Discord.

Checks that a user can fail (question length, unknown article, cooldown, busy, not an
admin) run *before* the interaction is deferred, so the refusal is a private one-sentence
reply; everything after the defer streams into the public response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Literal

import discord
from discord import app_commands

from bot.discordbot import format as fmt
from bot.discordbot.checks import RequestChecks, require_admin
from bot.discordbot.dispatch import DISCORD_REFUSED, Dispatcher, Refusal
from bot.discordbot.faults import DISCORD_ERRORS, describe
from bot.discordbot.feedback import AnswerFeedback
from bot.discordbot.memory import ConversationMemory
from bot.discordbot.split import MESSAGE_LIMIT
from bot.discordbot.stream import NO_MENTIONS
from config import Settings
from retrieval.engine import Engine
from retrieval.errors import ArticlebotError, InputError
from retrieval.ingest.documents import SUPPORTED_TYPES, format_size
from retrieval.types import Turn

log = logging.getLogger("articlebot.discord")

SEARCH_MAX = 10

Handler = Callable[..., Coroutine[Any, Any, None]]


class SlashCommands:
    """/ask, /summary, /articles, /search, /upload and /remove over one Engine.

    Built once with the client; ``add_to`` puts the commands and their error handler on
    the client's command tree."""

    def __init__(self, engine: Engine, dispatcher: Dispatcher, settings: Settings,
                 memory: ConversationMemory, feedback: AnswerFeedback) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.settings = settings
        self.memory = memory
        self.feedback = feedback  # the answer's log entry and its 👍/👎 buttons
        self.checks = RequestChecks(engine, dispatcher, settings)

    def add_to(self, tree: app_commands.CommandTree[Any]) -> None:
        ask, summary, articles, search, upload, remove = (
            _command(handler) for handler in (self.ask, self.summary, self.articles,
                                              self.search, self.upload, self.remove))
        for command in (ask, summary, remove):
            command.autocomplete("article")(self.article_choices)
        if not self.settings.discord.admin_role:
            # Hidden from members without Manage Server (server admins can change that in
            # Server Settings → Integrations); with an admin role configured they must show.
            upload.default_permissions = discord.Permissions(manage_guild=True)
            remove.default_permissions = discord.Permissions(manage_guild=True)
        for command in (ask, summary, articles, search, upload, remove):
            tree.add_command(command)
        tree.error(self.on_error)

    # -- the commands -----------------------------------------------------------------
    @app_commands.describe(question="What you want to know",
                           article="Only look in this article")
    async def ask(self, interaction: discord.Interaction, question: str,
                  article: str | None = None) -> None:
        """Answer a question from this server's articles, with sources."""
        question = self.checks.question(question)
        collection = self.checks.collection_of(interaction.guild_id)
        await self.checks.target(collection, article)
        reply = self.dispatcher.interaction_reply(interaction)
        accepted = self.dispatcher.enqueue(interaction.user.id, lambda on_token: self.engine.ask(
            question, collection=collection, article=article, on_token=on_token),
            expires_at=reply.expires_at)
        await _defer(interaction, accepted.future)
        delivered = await self.dispatcher.deliver(
            reply, accepted, fmt.answer_text, context=f"/ask guild={interaction.guild_id}",
            attach=self.feedback.buttons(question, interaction.guild_id))
        if delivered.result is not None:
            await self.memory.record(delivered.message_ids, (),
                                     Turn(question, delivered.result.text),
                                     guild=interaction.guild_id)
        self.dispatcher.log_answer("ask", interaction.guild_id, accepted, delivered, question)

    @app_commands.describe(article="The article to summarise (optional if there is one)",
                           length="short (default) or long")
    async def summary(self, interaction: discord.Interaction, article: str | None = None,
                      length: Literal["short", "long"] = "short") -> None:
        """Summarise one article of this server."""
        collection = self.checks.collection_of(interaction.guild_id)
        await self.checks.target(collection, article, single=True)
        reply = self.dispatcher.interaction_reply(interaction)
        accepted = self.dispatcher.enqueue(
            interaction.user.id, lambda on_token: self.engine.summarize(
                article, collection=collection, length=length, on_token=on_token),
            expires_at=reply.expires_at)
        await _defer(interaction, accepted.future)
        delivered = await self.dispatcher.deliver(
            reply, accepted, fmt.summary_text,
            context=f"/summary guild={interaction.guild_id}")
        self.dispatcher.log_answer("summary", interaction.guild_id, accepted, delivered,
                                   article or "")

    async def articles(self, interaction: discord.Interaction) -> None:
        """List this server's articles."""
        await interaction.response.defer()
        collection = self.checks.collection_of(interaction.guild_id)
        articles = await self.dispatcher.lookup(self.engine.list_articles, collection)
        where = "this server" if interaction.guild_id else "the shared collection"
        await self.dispatcher.respond(interaction, fmt.articles_text(articles, where))

    @app_commands.describe(query="Words to look for", count="How many passages (1-10)")
    async def search(self, interaction: discord.Interaction, query: str,
                     count: app_commands.Range[int, 1, SEARCH_MAX] | None = None) -> None:
        """Show the passages that best match, with scores (no AI answer, instant)."""
        query = self.checks.question(query)
        self.dispatcher.admit_search(interaction.user.id)
        await interaction.response.defer()
        passages = await self.dispatcher.run_search(
            self.engine.search, query, collection=self.checks.collection_of(interaction.guild_id),
            k=count)
        await self.dispatcher.respond(interaction, fmt.search_text(query, passages))

    @app_commands.guild_only()
    @app_commands.describe(file=f"A {SUPPORTED_TYPES} file", url="An http(s) link",
                           title="Title to store it under (default: from the document)")
    async def upload(self, interaction: discord.Interaction,
                     file: discord.Attachment | None = None, url: str | None = None,
                     title: str | None = None) -> None:
        """Admins: add an article from a file or a link (same title replaces it)."""
        self._require_admin(interaction)
        if (file is None) == (url is None):
            raise InputError("Give either a file or a url, not both or neither.")
        limit = self.settings.limits.max_file_bytes
        if file is not None and file.size > limit:
            raise InputError(f"{file.filename} is {format_size(file.size)}; "
                             f"the limit is {format_size(limit)}.")
        dispatcher = self.dispatcher
        dispatcher.check_ingest_room()
        await interaction.response.defer(ephemeral=True)
        collection = self.checks.collection_of(interaction.guild_id)
        added_by = interaction.user.name
        async with dispatcher.ingest_turn():
            if file is not None:
                # Downloaded only now, when its turn has come: a queued upload holds no bytes.
                result = await dispatcher.run_ingest(
                    self.engine.ingest_bytes, await _download(file), file.filename,
                    collection=collection, title=title, added_by=added_by,
                    content_type=file.content_type, source=file.filename)
            else:
                assert url is not None
                result = await dispatcher.run_ingest(
                    self.engine.ingest_url, url.strip(), collection=collection, title=title,
                    added_by=added_by)
        dispatcher.metrics.count_ingest(result.status)
        await dispatcher.respond(interaction, fmt.ingest_text(result), private=True)

    @app_commands.guild_only()
    @app_commands.describe(article="The article to remove")
    async def remove(self, interaction: discord.Interaction, article: str) -> None:
        """Admins: remove an article from this server."""
        self._require_admin(interaction)
        self.checks.article_ref(article)
        self.dispatcher.check_ingest_room()
        await interaction.response.defer(ephemeral=True)
        removed = await self.dispatcher.ingest(self.engine.remove, article,
                                               self.checks.collection_of(interaction.guild_id))
        await self.dispatcher.respond(interaction, fmt.removed_text(removed), private=True)

    async def article_choices(self, interaction: discord.Interaction,
                              current: str) -> list[app_commands.Choice[str]]:
        """Up to 25 articles of *this* server whose title contains what was typed."""
        collection = self.checks.collection_of(interaction.guild_id)
        try:
            articles = await self.dispatcher.lookup(self.engine.list_articles, collection)
        except Exception:  # an empty list beats an error popup while typing
            log.exception("autocomplete failed (guild=%s)", interaction.guild_id)
            return []
        needle = current.casefold().strip()
        found = [a for a in articles if needle in a.title.casefold() or needle == str(a.id)]
        return [app_commands.Choice(name=a.title[:100], value=str(a.id)) for a in found[:25]]

    def _require_admin(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            raise Refusal("Articles can't be changed in DMs; use the commands in a server.")
        require_admin(interaction, self.settings.discord.admin_role)

    # -- errors -----------------------------------------------------------------------
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        cause = getattr(error, "original", error)
        if isinstance(cause, ArticlebotError):
            message = fmt.member_sentence(cause)
        elif isinstance(cause, DISCORD_ERRORS):  # Discord's failure, not ours: no apology
            log.warning("Discord refused a request of /%s (guild=%s: %s)",
                        interaction.command.name if interaction.command else "?",
                        interaction.guild_id, describe(cause))
            message = DISCORD_REFUSED
        else:
            command = interaction.command.name if interaction.command else "?"
            log.error("command /%s failed (guild=%s user=%s)", command, interaction.guild_id,
                      interaction.user.id, exc_info=cause)
            self.dispatcher.metrics.count_error("command")
            message = fmt.APOLOGY
        await _tell(interaction, message)


def _command(handler: Handler) -> app_commands.Command[Any, ..., None]:
    """A slash command named after ``handler``, described by its docstring."""
    description = " ".join((handler.__doc__ or "…").split())
    return app_commands.Command(name=handler.__name__, description=description,
                                callback=handler)


async def _tell(interaction: discord.Interaction, message: str) -> None:
    """One private sentence; in the response itself when it was already deferred."""
    if len(message) > MESSAGE_LIMIT:  # whatever it quotes, it must fit one message
        message = message[: MESSAGE_LIMIT - 1] + "…"
    try:
        if interaction.response.is_done():
            await interaction.edit_original_response(content=message,
                                                      allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.send_message(message, ephemeral=True,
                                                    allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.warning("could not tell user %s: interaction gone", interaction.user.id)


async def _defer(interaction: discord.Interaction, job: asyncio.Future[Any]) -> None:
    try:
        await interaction.response.defer()
    except discord.HTTPException:
        job.cancel()  # nobody will see the answer: free the queue slot
        raise


async def _download(file: discord.Attachment) -> bytes:
    try:
        return await file.read()
    except discord.HTTPException as exc:  # expired or removed from Discord's CDN
        log.warning("could not download attachment (status=%s)", exc.status)
        raise InputError(f"Could not download {file.filename} from Discord; "
                         "please upload it again.") from None
