"""Where an answer goes, and streaming it there without tripping Discord's edit rate limit.

A ``Reply`` is either an interaction's original response (slash commands) or a message the
bot posts in a channel, thread or DM (mentions, replies). ``ThrottledEditor`` keeps its
edits at least ``interval`` seconds apart, measured from the end of one edit request to the
start of the next, so Discord also sees them that far apart. A preview Discord refuses is
skipped, never fatal: after a 429 or a 5xx the editor waits as long as Discord asked (at
least) and doubles its interval, showing only the latest text when it edits again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import discord
from discord.ui import View

from bot.discordbot.faults import DISCORD_ERRORS, describe, is_transient, retry_after
from bot.discordbot.format import preview
from bot.discordbot.worker import TokenStream

log = logging.getLogger("articlebot.discord")

NO_MENTIONS = discord.AllowedMentions.none()


class NoFallback(Exception):
    """The answer cannot be posted in the channel instead (no permission there)."""


class Reply(Protocol):
    # When edits stop working (``time.monotonic()``); None: they do not expire.
    expires_at: float | None
    # Put before the first message posted by ``fallback`` (who it is for).
    fallback_lead: str

    # Each takes the answer's buttons (``view``) with its last message only.
    async def edit(self, content: str, view: View | None = None) -> int:
        """Show ``content`` in the answer message (creating it if needed); its id."""
        ...

    async def send(self, content: str, view: View | None = None) -> int:
        """Post one more message after the answer (overflow past 2,000 characters)."""
        ...

    async def fallback(self, content: str, view: View | None = None) -> int:
        """Post ``content`` as a new message in the channel, when the answer message can no
        longer be edited; raise ``NoFallback`` where the bot may not post."""
        ...


def with_view(view: View | None) -> dict[str, Any]:
    """discord.py's ``view=`` keyword only when there is one (``view=None`` would remove
    the buttons a message has)."""
    return {} if view is None else {"view": view}


class InteractionReply:
    """A slash command's response; its token lives ``lifetime_s`` from the interaction."""

    def __init__(self, interaction: discord.Interaction, lifetime_s: float, *,
                 private: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.interaction = interaction
        self.private = private
        self.expires_at: float | None = clock() - _age(interaction) + lifetime_s
        self.fallback_lead = f"{interaction.user.mention} "

    async def edit(self, content: str, view: View | None = None) -> int:
        message = await self.interaction.edit_original_response(
            content=content, allowed_mentions=NO_MENTIONS, **with_view(view)
        )
        return message.id

    async def send(self, content: str, view: View | None = None) -> int:
        message = await self.interaction.followup.send(
            content, allowed_mentions=NO_MENTIONS, wait=True, **with_view(view)
        )
        return message.id

    async def fallback(self, content: str, view: View | None = None) -> int:
        interaction = self.interaction
        if self.private:
            raise NoFallback("a private reply is not posted in the channel")
        channel = interaction.channel
        if channel is None or not isinstance(channel, discord.abc.Messageable):
            raise NoFallback("the interaction has no channel")
        if interaction.guild_id is not None:
            perms = interaction.app_permissions
            in_thread = isinstance(channel, discord.Thread) or getattr(channel, "type", None) in (
                discord.ChannelType.public_thread, discord.ChannelType.private_thread)
            allowed = perms.send_messages_in_threads if in_thread else perms.send_messages
            if not (allowed and perms.view_channel):
                raise NoFallback(f"no permission to post in channel {interaction.channel_id}")
        # Only the member who asked may be pinged: the answer quotes articles.
        mention = discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                          users=[interaction.user])
        message = await channel.send(content, allowed_mentions=mention, **with_view(view))
        return message.id


def _age(interaction: discord.Interaction) -> float:
    """Seconds since Discord created the interaction; a skewed clock counts for at most the
    3 s in which an interaction must be acknowledged."""
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    return min(max(age, 0.0), 3.0)


class MessageReply:
    """The bot's answer to a message: posted by the first edit, then edited in place."""

    def __init__(
        self, channel: discord.abc.Messageable, reference: discord.Message | None = None
    ) -> None:
        self.channel = channel
        self.reference = reference
        self.message: discord.Message | None = None
        self.expires_at: float | None = None
        self.fallback_lead = ""

    async def edit(self, content: str, view: View | None = None) -> int:
        extra = with_view(view)
        if self.message is None:
            if self.reference is not None:
                self.message = await self.reference.reply(
                    content, mention_author=False, allowed_mentions=NO_MENTIONS, **extra
                )
            else:
                self.message = await self.channel.send(content, allowed_mentions=NO_MENTIONS,
                                                       **extra)
        else:
            self.message = await self.message.edit(content=content, allowed_mentions=NO_MENTIONS,
                                                   **extra)
        return self.message.id

    async def send(self, content: str, view: View | None = None) -> int:
        message = await self.channel.send(content, allowed_mentions=NO_MENTIONS,
                                          **with_view(view))
        return message.id

    async def fallback(self, content: str, view: View | None = None) -> int:
        """The answer message could not be edited: a new one, replying to the question."""
        self.message = None
        return await self.edit(content, view)


MAX_INTERVAL_S = 10.0
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
        self._not_before = float("-inf")
        self._previews_off = False
        self.edits = 0
        self.skipped = 0  # previews Discord refused
        self.first_edit_at: float | None = None

    async def show(self, content: str,
                   edit: Callable[[str], Awaitable[int]] | None = None) -> int:
        """Edit (with ``edit``, default the editor's own) now, or as soon as the interval
        since the previous edit and any wait Discord asked for have passed."""
        async with self._lock:
            delay = max(self._last_done + self.interval, self._not_before) - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            self._sending = True
            try:
                message_id = await (edit or self._edit)(content)
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
            wanted = text.strip() and text != shown and not self._previews_off
            if wanted and not self._stopping and await self.try_show(preview(text)):
                shown = text

    async def try_show(self, content: str) -> bool:
        """``show`` for what may be skipped (previews, the queue note): Discord refusing it
        slows the editor down (or, for good, stops it) instead of failing the answer."""
        try:
            await self.show(content)
        except DISCORD_ERRORS as exc:
            self.skipped += 1
            if not is_transient(exc):
                self._previews_off = True  # e.g. the token is gone: the final delivery copes
            else:
                self.interval = min(self.interval * 2, max(MAX_INTERVAL_S, self.interval))
                self._not_before = self._clock() + max(retry_after(exc), self.interval)
            log.info("Discord refused a preview edit (%s); next edit in %.1f s at the earliest",
                     describe(exc), max(0.0, self._not_before - self._clock()))
            return False
        return True

    async def stop(self, follower: asyncio.Task[None]) -> None:
        """End ``follow``: cancel it while it waits, but never in the middle of a request."""
        self._stopping = True
        if not self._sending:
            follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
