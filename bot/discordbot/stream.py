"""Where an answer goes, and streaming it there without tripping Discord's edit rate limit.

A ``Reply`` is either an interaction's original response (slash commands) or a message the
bot posts in a channel, thread or DM (mentions, replies). ``ThrottledEditor`` keeps its
edits at least ``interval`` seconds apart, measured from the end of one edit request to the
start of the next, so Discord also sees them that far apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import discord

from bot.discordbot.format import preview
from bot.discordbot.worker import TokenStream

NO_MENTIONS = discord.AllowedMentions.none()


class Reply(Protocol):
    async def edit(self, content: str) -> int:
        """Show ``content`` in the answer message (creating it if needed); its id."""
        ...

    async def send(self, content: str) -> int:
        """Post one more message after the answer (overflow past 2,000 characters)."""
        ...


class InteractionReply:
    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction

    async def edit(self, content: str) -> int:
        message = await self.interaction.edit_original_response(
            content=content, allowed_mentions=NO_MENTIONS
        )
        return message.id

    async def send(self, content: str) -> int:
        message = await self.interaction.followup.send(
            content, allowed_mentions=NO_MENTIONS, wait=True
        )
        return message.id


class MessageReply:
    """The bot's answer to a message: posted by the first edit, then edited in place."""

    def __init__(
        self, channel: discord.abc.Messageable, reference: discord.Message | None = None
    ) -> None:
        self.channel = channel
        self.reference = reference
        self.message: discord.Message | None = None

    async def edit(self, content: str) -> int:
        if self.message is None:
            if self.reference is not None:
                self.message = await self.reference.reply(
                    content, mention_author=False, allowed_mentions=NO_MENTIONS
                )
            else:
                self.message = await self.channel.send(content, allowed_mentions=NO_MENTIONS)
        else:
            self.message = await self.message.edit(content=content, allowed_mentions=NO_MENTIONS)
        return self.message.id

    async def send(self, content: str) -> int:
        message = await self.channel.send(content, allowed_mentions=NO_MENTIONS)
        return message.id


FIRST_PREVIEW_DELAY_S = 0.3


class ThrottledEditor:
    """Edits one message at most once per ``interval`` seconds.

    The first partial text is held back ``first_delay`` seconds: a short answer that is
    complete by then ("He Lifeng") is shown whole at once, instead of a one-word preview
    followed by the full answer a whole ``interval`` later."""

    def __init__(
        self,
        edit: Callable[[str], Awaitable[int]],
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        first_delay: float = FIRST_PREVIEW_DELAY_S,
    ) -> None:
        self._edit = edit
        self.interval = interval
        self.first_delay = min(first_delay, interval)
        self._clock = clock
        self._last_done = float("-inf")
        self._lock = asyncio.Lock()
        self._sending = False
        self._stopping = False
        self.edits = 0
        self.first_edit_at: float | None = None

    async def show(self, content: str) -> int:
        """Edit now, or as soon as the interval since the previous edit has passed."""
        async with self._lock:
            delay = self._last_done + self.interval - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            self._sending = True
            try:
                message_id = await self._edit(content)
            finally:
                self._sending = False
                self._last_done = self._clock()
            self.edits += 1
            if self.first_edit_at is None:
                self.first_edit_at = self._last_done
            return message_id

    async def follow(self, stream: TokenStream) -> None:
        """Show the growing text of ``stream`` until ``stop`` is called."""
        shown = ""
        while not self._stopping:
            text = await stream.changed()
            if not shown and self.first_delay > 0:
                await asyncio.sleep(self.first_delay)  # cancelled by stop() if done by then
                text = stream.text
            if text.strip() and text != shown and not self._stopping:
                await self.show(preview(text))
                shown = text

    async def stop(self, follower: asyncio.Task[None]) -> None:
        """End ``follow``: cancel it while it waits, but never in the middle of a request."""
        self._stopping = True
        if not self._sending:
            follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
