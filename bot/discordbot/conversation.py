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
from typing import TYPE_CHECKING

import discord

from bot.discordbot import format as fmt
from bot.discordbot.client import member_sentence
from bot.discordbot.stream import NO_MENTIONS, MessageReply
from retrieval.errors import ArticlebotError
from retrieval.types import Turn

if TYPE_CHECKING:
    from bot.discordbot.client import ArticleBot

log = logging.getLogger("articlebot.discord")

HINT = "Ask me a question about the articles, for example “Who is meeting whom?”."


def strip_mention(content: str, user_id: int) -> str:
    return " ".join(re.sub(rf"<@!?{user_id}>", " ", content).split())


def _replied_id(message: discord.Message) -> int | None:
    ref = message.reference
    return ref.message_id if ref is not None else None


def _is_addressed(bot: ArticleBot, message: discord.Message, me: discord.ClientUser) -> bool:
    channel = message.channel
    if message.guild is None or any(u.id == me.id for u in message.mentions):
        return True
    if isinstance(channel, discord.Thread) and channel.owner_id == me.id:
        return True
    ref = message.reference
    resolved = ref.resolved if ref is not None else None
    if isinstance(resolved, discord.Message) and resolved.author.id == me.id:
        return True
    return bool(bot.memory.get(_replied_id(message)))


async def handle_message(bot: ArticleBot, message: discord.Message) -> None:
    me = bot.user
    if me is None or message.author.bot or message.type not in (
        discord.MessageType.default, discord.MessageType.reply
    ):
        return
    if not _is_addressed(bot, message, me):
        return
    try:
        await _answer_message(bot, message, me)
    except ArticlebotError as exc:
        await _say(message, member_sentence(exc))
    except Exception:
        log.exception("answering a message failed (guild=%s channel=%s)",
                      message.guild.id if message.guild else "dm", message.channel.id)
        bot.metrics.count_error("message")
        await _say(message, "Sorry, something went wrong on my side; it has been logged.")


async def _say(message: discord.Message, text: str) -> None:
    try:
        await message.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.warning("could not reply in channel %s", message.channel.id)


async def _answer_message(bot: ArticleBot, message: discord.Message,
                          me: discord.ClientUser) -> None:
    raw = strip_mention(message.content, me.id)
    if not raw:
        await _say(message, HINT)
        return
    question = bot.check_question(raw)
    guild_id = message.guild.id if message.guild else None
    collection = bot.collection_of(guild_id)
    channel = message.channel
    conversation = channel.id if message.guild is None or (
        isinstance(channel, discord.Thread) and channel.owner_id == me.id) else None
    replied = _replied_id(message)
    history = bot.memory.get(replied) or bot.memory.get(conversation)
    await bot.check_target(collection, None)
    accepted = bot.enqueue(message.author.id, lambda on_token: bot.engine.ask(
        question, collection=collection, history=history, on_token=on_token))

    reply = MessageReply(channel, reference=None if conversation else message)
    if conversation is None and replied is None and isinstance(channel, discord.TextChannel):
        thread = await _start_thread(message, question)
        if thread is not None:
            reply = MessageReply(thread)
            conversation = thread.id
    await _typing(reply.channel)
    delivered = await bot.deliver(reply, accepted, fmt.answer_text,
                                  context=f"message guild={guild_id} channel={channel.id}")
    if delivered.result is not None:
        keys = [*delivered.message_ids, *([conversation] if conversation else [])]
        bot.memory.remember(keys, history, Turn(question, delivered.result.text),
                            guild=guild_id)
    bot.log_answer("mention", guild_id, accepted, delivered, question)


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
