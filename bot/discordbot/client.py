"""The Discord client: connects, routes events, and owns what lives as long as it does.

It builds, once, the ``Dispatcher`` (queues, delivery, answer logging), the conversation
memory, the slash commands (``commands.py``, ``/insight`` in ``insight.py``), the message
handler (``conversation.py``) and the answers' 👍/👎 buttons (``feedback.py``),
and closes them in order on shutdown. Every answer, search and upload is one Engine call
made by those handlers.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.discordbot.commands import SlashCommands
from bot.discordbot.conversation import Conversation
from bot.discordbot.dispatch import Dispatcher
from bot.discordbot.feedback import AnswerFeedback, VoteButton
from bot.discordbot.insight import InsightCommands
from bot.discordbot.memory import ConversationMemory
from bot.discordbot.stream import NO_MENTIONS
from bot.metrics import Metrics
from config import Settings
from retrieval.engine import Engine

log = logging.getLogger("articlebot.discord")


class ArticleBot(discord.Client):
    def __init__(
        self, engine: Engine, settings: Settings, *, dev_guild: int | None = None, **options: Any
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # follow-ups in threads and reply chains need it
        super().__init__(intents=intents, allowed_mentions=NO_MENTIONS, **options)
        self.engine = engine
        self.settings = settings
        self.dev_guild = dev_guild
        self.metrics = Metrics()  # served over HTTP by `articlebot run` when enabled
        self.dispatcher = Dispatcher(settings, self.metrics)
        self.memory = ConversationMemory(
            max_turns=max(settings.answer.history_turns, 1),
            store=engine.conversation_turns(),
            max_keys_per_guild=settings.discord.memory_keys_per_guild)
        self.tree = app_commands.CommandTree(self)
        # The 👍/👎 buttons are routed by their custom ids, also on answers from before a
        # restart (``VoteButton`` finds this object as ``client.answer_feedback``).
        self.answer_feedback = AnswerFeedback(engine, self.dispatcher, settings)
        self.add_dynamic_items(VoteButton)
        SlashCommands(engine, self.dispatcher, settings, self.memory,
                      self.answer_feedback).add_to(self.tree)
        InsightCommands(engine, self.dispatcher, settings).add_to(self.tree)
        self.conversation = Conversation(engine, self.dispatcher, settings, self.memory,
                                         self.answer_feedback)
        self._shutting_down = False

    async def setup_hook(self) -> None:
        self.dispatcher.start()
        if self.dev_guild is not None:
            guild = discord.Object(self.dev_guild)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to development guild %s", len(synced), self.dev_guild)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands (may take up to an hour to show)", len(synced))

    async def on_ready(self) -> None:
        log.info("connected as %s (id %s) to %d servers", self.user, self.application_id,
                 len(self.guilds))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        # The 👎 reason forms are routed here by custom id (``feedback.reason_form``).
        await self.answer_feedback.on_interaction(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self.conversation.handle(message, self.user)

    async def close(self) -> None:
        """Finish what is running, then disconnect: the model job in progress completes and
        is delivered, queued ones are told the bot is restarting, uploads finish writing."""
        if not self._shutting_down:
            self._shutting_down = True
            await self.dispatcher.drain()
        await super().close()
        await self.dispatcher.close()
        self.memory.close()


class ShardedArticleBot(ArticleBot, discord.AutoShardedClient):
    """The same bot over several gateway connections (``discord.shard_count``)."""


def create_client(
    settings: Settings, engine: Engine, *, dev_guild: int | None = None, **options: Any
) -> ArticleBot:
    shards = settings.discord.shard_count
    if shards is None:
        return ArticleBot(engine, settings, dev_guild=dev_guild, **options)
    count = None if shards == "auto" else shards
    if settings.discord.shard_ids is not None:
        # This process runs some of the shards; others, on the same data directory, run the
        # rest (writes to a collection are serialised across processes by its file lock).
        options = {**options, "shard_ids": list(settings.discord.shard_ids)}
    return ShardedArticleBot(engine, settings, dev_guild=dev_guild, shard_count=count, **options)
