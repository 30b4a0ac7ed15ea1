"""Questions in messages: @mentions, replies to the bot's answers, threads it started, DMs.

- An @mention in a server channel starts a thread on the question and answers there;
  every later message in that thread is a follow-up (no mention needed).
- A reply to one of the bot's answers (including /ask responses) is a follow-up of that
  reply chain, answered as a reply.
- In DMs every message is a question; the DM is one conversation.
Follow-ups pass the conversation's earlier turns to the engine (see ``memory.py``).
"""

from __future__ import annotations

import contextlib
import logging
import re

import discord

from bot.discordbot import format as fmt
from bot.discordbot.checks import RequestChecks
from bot.discordbot.dispatch import DISCORD_REFUSED, Dispatcher
from bot.discordbot.faults import DISCORD_ERRORS, describe
from bot.discordbot.feedback import AnswerFeedback
from bot.discordbot.memory import ConversationMemory
from bot.discordbot.stream import NO_MENTIONS, MessageReply
from config import Settings
from retrieval.engine import Engine
from retrieval.errors import ArticlebotError
from retrieval.types import Turn

log = logging.getLogger("articlebot.discord")

HINT = "Ask me a question about the articles, for example “Who is meeting whom?”."


def strip_mention(content: str, user_id: int) -> str:
    return " ".join(re.sub(rf"<@!?{user_id}>", " ", content).split())


def _replied_id(message: discord.Message) -> int | None:
    ref = message.reference
    return ref.message_id if ref is not None else None


class Conversation:
    """Answers the messages addressed to the bot; built once with the client."""

    def __init__(self, engine: Engine, dispatcher: Dispatcher, settings: Settings,
                 memory: ConversationMemory, feedback: AnswerFeedback) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.memory = memory
        self.feedback = feedback  # the answer's log entry and its 👍/👎 buttons
        self.checks = RequestChecks(engine, dispatcher, settings)

    async def handle(self, message: discord.Message, me: discord.ClientUser | None) -> None:
        """Answer ``message`` if it is a question to the bot (``me``); ignore it otherwise."""
        if me is None or message.author.bot or message.type not in (
            discord.MessageType.default, discord.MessageType.reply
        ):
            return
        if not await self._is_addressed(message, me):
            return
        try:
            await self._answer(message, me)
        except ArticlebotError as exc:
            await _say(message, fmt.member_sentence(exc))
        except DISCORD_ERRORS as exc:  # Discord's failure, not ours: no apology
            log.warning("Discord refused a request while answering a message (guild=%s "
                        "channel=%s: %s)", message.guild.id if message.guild else "dm",
                        message.channel.id, describe(exc))
            await _say(message, DISCORD_REFUSED)
        except Exception:
            log.exception("answering a message failed (guild=%s channel=%s)",
                          message.guild.id if message.guild else "dm", message.channel.id)
            self.dispatcher.metrics.count_error("message")
            await _say(message, "Sorry, something went wrong on my side; it has been logged.")

    async def _is_addressed(self, message: discord.Message, me: discord.ClientUser) -> bool:
        channel = message.channel
        if message.guild is None or any(u.id == me.id for u in message.mentions):
            return True
        if isinstance(channel, discord.Thread) and channel.owner_id == me.id:
            return True
        ref = message.reference
        resolved = ref.resolved if ref is not None else None
        if isinstance(resolved, discord.Message):
            # Only the bot's own messages are memory keys: a reply to anyone else's is chatter.
            return resolved.author.id == me.id
        return bool(await self.memory.recall(_replied_id(message)))

    async def _answer(self, message: discord.Message, me: discord.ClientUser) -> None:
        raw = strip_mention(message.content, me.id)
        if not raw:
            await _say(message, HINT)
            return
        question = self.checks.question(raw)
        guild_id = message.guild.id if message.guild else None
        collection = self.checks.collection_of(guild_id)
        channel = message.channel
        conversation = channel.id if message.guild is None or (
            isinstance(channel, discord.Thread) and channel.owner_id == me.id) else None
        replied = _replied_id(message)
        history = await self.memory.recall(replied) or await self.memory.recall(conversation)
        await self.checks.target(collection, None)
        accepted = self.dispatcher.enqueue(message.author.id, lambda on_token: self.engine.ask(
            question, collection=collection, history=history, on_token=on_token))

        reply = MessageReply(channel, reference=None if conversation else message)
        if conversation is None and replied is None and isinstance(channel, discord.TextChannel):
            thread = await _start_thread(message, question)
            if thread is not None:
                reply = MessageReply(thread)
                conversation = thread.id
        await _typing(reply.channel)
        delivered = await self.dispatcher.deliver(
            reply, accepted, fmt.answer_text,
            context=f"message guild={guild_id} channel={channel.id}",
            attach=self.feedback.buttons(question, guild_id))
        if delivered.result is not None:
            keys = [*delivered.message_ids, *([conversation] if conversation else [])]
            await self.memory.record(keys, history, Turn(question, delivered.result.text),
                                     guild=guild_id)
        self.dispatcher.log_answer("mention", guild_id, accepted, delivered, question)


async def _say(message: discord.Message, text: str) -> None:
    try:
        await message.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.warning("could not reply in channel %s", message.channel.id)


async def _start_thread(message: discord.Message, question: str) -> discord.Thread | None:
    """A thread on the question keeps the conversation out of the channel; without the
    permission (or where threads are impossible) the answer is a plain reply."""
    try:
        return await message.create_thread(name=question[:90], auto_archive_duration=1440)
    except discord.HTTPException as exc:
        log.info("no thread in channel %s (%s); replying instead", message.channel.id, exc)
        return None


async def _typing(channel: discord.abc.Messageable) -> None:
    with contextlib.suppress(discord.HTTPException):
        await channel.typing()
