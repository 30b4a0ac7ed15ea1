"""The slash commands. Each command's docstring is its description in Discord.

Checks that a user can fail (question length, unknown article, cooldown, busy, not an
admin) run *before* the interaction is deferred, so the refusal is a private one-sentence
reply; everything after the defer streams into the public response.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands

from bot.discordbot import format as fmt
from bot.discordbot.client import Refusal
from bot.discordbot.guards import is_admin
from bot.discordbot.split import split_message
from bot.discordbot.stream import NO_MENTIONS, InteractionReply
from retrieval.documents import SUPPORTED_TYPES, format_size
from retrieval.errors import InputError
from retrieval.types import Turn

if TYPE_CHECKING:
    from bot.discordbot.client import ArticleBot

log = logging.getLogger("articlebot.discord")

SEARCH_MAX = 10


def register(bot: ArticleBot) -> None:
    """Add every command to ``bot.tree``."""
    tree = bot.tree

    @tree.command(name="ask")
    @app_commands.describe(question="What you want to know",
                           article="Only look in this article")
    async def ask(interaction: discord.Interaction, question: str,
                  article: str | None = None) -> None:
        """Answer a question from this server's articles, with sources."""
        await handle_ask(bot, interaction, question, article)

    @tree.command(name="summary")
    @app_commands.describe(article="The article to summarise (optional if there is one)",
                           length="short (default) or long")
    async def summary(interaction: discord.Interaction, article: str | None = None,
                      length: Literal["short", "long"] = "short") -> None:
        """Summarise one article of this server."""
        await handle_summary(bot, interaction, article, length)

    @tree.command(name="articles")
    async def articles(interaction: discord.Interaction) -> None:
        """List this server's articles."""
        await handle_articles(bot, interaction)

    @tree.command(name="search")
    @app_commands.describe(query="Words to look for", count="How many passages (1-10)")
    async def search(interaction: discord.Interaction, query: str,
                     count: app_commands.Range[int, 1, SEARCH_MAX] | None = None) -> None:
        """Show the passages that best match, with scores (no AI answer, instant)."""
        await handle_search(bot, interaction, query, count)

    @tree.command(name="upload")
    @app_commands.guild_only()
    @app_commands.describe(file=f"A {SUPPORTED_TYPES} file", url="An http(s) link",
                           title="Title to store it under (default: from the document)")
    async def upload(interaction: discord.Interaction, file: discord.Attachment | None = None,
                     url: str | None = None, title: str | None = None) -> None:
        """Admins: add an article from a file or a link (same title replaces it)."""
        await handle_upload(bot, interaction, file, url, title)

    @tree.command(name="remove")
    @app_commands.guild_only()
    @app_commands.describe(article="The article to remove")
    async def remove(interaction: discord.Interaction, article: str) -> None:
        """Admins: remove an article from this server."""
        await handle_remove(bot, interaction, article)

    async def choices(interaction: discord.Interaction,
                      current: str) -> list[app_commands.Choice[str]]:
        return await article_choices(bot, interaction, current)

    ask.autocomplete("article")(choices)
    summary.autocomplete("article")(choices)
    remove.autocomplete("article")(choices)
    if not bot.settings.discord.admin_role:
        # Hidden from members without Manage Server (server admins can change that in
        # Server Settings → Integrations); with an admin role configured they must show.
        upload.default_permissions = discord.Permissions(manage_guild=True)
        remove.default_permissions = discord.Permissions(manage_guild=True)


async def article_choices(bot: ArticleBot, interaction: discord.Interaction,
                          current: str) -> list[app_commands.Choice[str]]:
    """Up to 25 articles of *this* server whose title contains what was typed."""
    collection = bot.collection_of(interaction.guild_id)
    try:
        articles = await bot.lookup(bot.engine.list_articles, collection)
    except Exception:  # an empty list beats an error popup while typing
        log.exception("autocomplete failed (guild=%s)", interaction.guild_id)
        return []
    needle = current.casefold().strip()
    found = [a for a in articles if needle in a.title.casefold() or needle == str(a.id)]
    return [app_commands.Choice(name=a.title[:100], value=str(a.id)) for a in found[:25]]


async def handle_ask(bot: ArticleBot, interaction: discord.Interaction, question: str,
                     article: str | None) -> None:
    question = bot.check_question(question)
    collection = bot.collection_of(interaction.guild_id)
    await bot.check_target(collection, article)
    accepted = bot.enqueue(interaction.user.id, lambda on_token: bot.engine.ask(
        question, collection=collection, article=article, on_token=on_token))
    await _defer(interaction, accepted.future)
    delivered = await bot.deliver(InteractionReply(interaction), accepted, fmt.answer_text,
                                  context=f"/ask guild={interaction.guild_id}")
    if delivered.result is not None:
        bot.memory.remember(delivered.message_ids, (), Turn(question, delivered.result.text),
                            guild=interaction.guild_id)
    bot.log_answer("ask", interaction.guild_id, accepted, delivered, question)


async def handle_summary(bot: ArticleBot, interaction: discord.Interaction,
                         article: str | None, length: Literal["short", "long"]) -> None:
    collection = bot.collection_of(interaction.guild_id)
    await bot.check_target(collection, article, single=True)
    accepted = bot.enqueue(interaction.user.id, lambda on_token: bot.engine.summarize(
        article, collection=collection, length=length, on_token=on_token))
    await _defer(interaction, accepted.future)
    delivered = await bot.deliver(InteractionReply(interaction), accepted, fmt.summary_text,
                                  context=f"/summary guild={interaction.guild_id}")
    bot.log_answer("summary", interaction.guild_id, accepted, delivered, article or "")


async def _defer(interaction: discord.Interaction, job: asyncio.Future[Any]) -> None:
    try:
        await interaction.response.defer()
    except discord.HTTPException:
        job.cancel()  # nobody will see the answer: free the queue slot
        raise


async def handle_articles(bot: ArticleBot, interaction: discord.Interaction) -> None:
    await interaction.response.defer()
    collection = bot.collection_of(interaction.guild_id)
    articles = await bot.lookup(bot.engine.list_articles, collection)
    where = "this server" if interaction.guild_id else "the shared collection"
    await _respond(interaction, fmt.articles_text(articles, where))


async def handle_search(bot: ArticleBot, interaction: discord.Interaction, query: str,
                        count: int | None) -> None:
    query = bot.check_question(query)
    wait = bot.search_cooldown.remaining(interaction.user.id)
    if wait > 0:
        raise Refusal(f"Please wait {math.ceil(wait)} s before searching again.")
    bot.check_search_room()
    bot.search_cooldown.hit(interaction.user.id)
    await interaction.response.defer()
    passages = await bot.run_search(bot.engine.search, query,
                                    collection=bot.collection_of(interaction.guild_id), k=count)
    await _respond(interaction, fmt.search_text(query, passages))


async def _respond(interaction: discord.Interaction, text: str) -> None:
    parts = split_message(text)
    await interaction.edit_original_response(content=parts[0], allowed_mentions=NO_MENTIONS)
    for part in parts[1:]:
        await interaction.followup.send(part, allowed_mentions=NO_MENTIONS)


def _require_admin(bot: ArticleBot, interaction: discord.Interaction) -> None:
    if interaction.guild_id is None:
        raise Refusal("Articles can't be changed in DMs; use the commands in a server.")
    roles = getattr(interaction.user, "roles", [])
    perms = interaction.permissions
    if not is_admin(manage_guild=perms.manage_guild or perms.administrator,
                    role_names=(r.name for r in roles),
                    admin_role=bot.settings.discord.admin_role):
        role = bot.settings.discord.admin_role
        extra = f" or the {role} role" if role else ""
        raise Refusal(f"Only members with the Manage Server permission{extra} can do that.")


async def handle_upload(bot: ArticleBot, interaction: discord.Interaction,
                        file: discord.Attachment | None, url: str | None,
                        title: str | None) -> None:
    _require_admin(bot, interaction)
    if (file is None) == (url is None):
        raise InputError("Give either a file or a url, not both or neither.")
    limit = bot.settings.limits.max_file_bytes
    if file is not None and file.size > limit:
        raise InputError(f"{file.filename} is {format_size(file.size)}; "
                         f"the limit is {format_size(limit)}.")
    bot.check_ingest_room()
    await interaction.response.defer(ephemeral=True)
    collection = bot.collection_of(interaction.guild_id)
    added_by = interaction.user.name
    async with bot.ingest_turn():
        if file is not None:
            # Downloaded only now, when its turn has come: a queued upload holds no bytes.
            result = await bot.run_ingest(bot.engine.ingest_bytes, await _download(file),
                                          file.filename, collection=collection, title=title,
                                          added_by=added_by, content_type=file.content_type,
                                          source=file.filename)
        else:
            assert url is not None
            result = await bot.run_ingest(bot.engine.ingest_url, url.strip(),
                                          collection=collection, title=title,
                                          added_by=added_by)
    bot.metrics.count_ingest(result.status)
    await interaction.edit_original_response(content=fmt.ingest_text(result),
                                             allowed_mentions=NO_MENTIONS)


async def _download(file: discord.Attachment) -> bytes:
    try:
        return await file.read()
    except discord.HTTPException as exc:  # expired or removed from Discord's CDN
        log.warning("could not download attachment (status=%s)", exc.status)
        raise InputError(f"Could not download {file.filename} from Discord; "
                         "please upload it again.") from None


async def handle_remove(bot: ArticleBot, interaction: discord.Interaction,
                        article: str) -> None:
    _require_admin(bot, interaction)
    bot.check_article_ref(article)
    bot.check_ingest_room()
    await interaction.response.defer(ephemeral=True)
    removed = await bot.ingest(bot.engine.remove, article, bot.collection_of(interaction.guild_id))
    await interaction.edit_original_response(content=fmt.removed_text(removed),
                                             allowed_mentions=NO_MENTIONS)
