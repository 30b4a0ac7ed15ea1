"""The checks a member's request passes before it is deferred or queued, shared by the slash
commands and the message handler: a mistake gets a private one-sentence reply instead of a
public answer."""

from __future__ import annotations

from typing import Any

import discord

from bot.discordbot.dispatch import Dispatcher, Refusal
from bot.discordbot.guards import collection_for, is_admin
from config import Settings
from retrieval.engine import Engine
from retrieval.errors import InputError
from retrieval.questions import check_question


def require_admin(interaction: discord.Interaction[Any], admin_role: str) -> None:
    """Manage Server (or Administrator), or the configured admin role; else one sentence."""
    roles = getattr(interaction.user, "roles", [])
    perms = interaction.permissions
    if not is_admin(manage_guild=perms.manage_guild or perms.administrator,
                    role_names=(r.name for r in roles), admin_role=admin_role):
        extra = f" or the {admin_role} role" if admin_role else ""
        raise Refusal(f"Only members with the Manage Server permission{extra} can do that.")


class RequestChecks:
    def __init__(self, engine: Engine, dispatcher: Dispatcher, settings: Settings) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.settings = settings

    def collection_of(self, guild_id: int | None) -> str:
        return collection_for(guild_id, self.settings.default_collection)

    def question(self, question: str) -> str:
        return check_question(question, self.settings.limits.max_question_chars)

    def article_ref(self, article: str) -> None:
        """An article option is an id or a title; Discord lets a member type up to 6,000
        characters there, which quoted back in "No article ..." would not fit a message."""
        limit = self.settings.limits.max_title_chars
        if len(article.strip()) > limit:
            raise InputError(f"Article titles have at most {limit} characters; "
                             "pick the article from the list.")

    async def target(self, collection: str, article: str | None, *,
                     single: bool = False) -> None:
        """The collection has articles and ``article`` names one of them (``single``: or
        there is only one)."""
        lookup = self.dispatcher.lookup
        if article:
            self.article_ref(article)
            await lookup(self.engine.get_article, article, collection)
            return
        count = len(await lookup(self.engine.list_articles, collection))
        if not count:
            raise InputError("There are no articles here yet: an admin can add one with /upload.")
        if single and count > 1:
            raise InputError("Pick the article to summarise from the article option's list.")
