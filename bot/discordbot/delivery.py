"""The final delivery: the edit that puts a finished answer in place, made to survive
Discord's hiccups.

discord.py already retries a 5xx or a 429 a few times (about 25 s for five 5xx). Past that,
``FinalDelivery`` keeps retrying with backoff while the interaction's token lives; when the
token is gone (401/404) or time runs out, it posts the answer as a plain message in the
channel instead (``Reply.fallback``: mentioning the member who asked). Discord refusing a
message is never reported to the member as the bot's own failure.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from discord.ui import View

from bot.discordbot.faults import DISCORD_ERRORS, describe, is_transient, retry_after
from bot.discordbot.split import MESSAGE_LIMIT, split_message
from bot.discordbot.stream import NoFallback, Reply, with_view

log = logging.getLogger("articlebot.discord")

FALLBACK_ERRORS: tuple[type[BaseException], ...] = (*DISCORD_ERRORS, NoFallback)


class Shower(Protocol):
    """Shows the first part of an answer, with ``edit`` (default: its own) doing the edit."""

    def __call__(self, content: str,
                 edit: Callable[[str], Awaitable[int]] | None = None) -> Awaitable[int]: ...


class Backoff:
    """Waits that double from ``first`` up to ``cap``; both scale with the interaction's
    lifetime, so a test with a lifetime of seconds retries in fractions of one."""

    def __init__(self, lifetime_s: float) -> None:
        self.first = min(1.0, lifetime_s / 60)
        self.cap = min(30.0, lifetime_s / 10)

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * 2, self.cap)


async def persist(
    attempt: Callable[[], Awaitable[int]],
    *,
    until: float,
    backoff: Backoff,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """``attempt()`` until it succeeds; transient failures are retried while a retry can
    still start before ``until``; anything else, or the last failure, is raised."""
    delays = backoff.delays()
    while True:
        try:
            return await attempt()
        except DISCORD_ERRORS as exc:
            if not is_transient(exc):
                raise
            wait = max(next(delays), retry_after(exc))
            if clock() + wait >= until:
                raise
            log.info("Discord did not accept a message (%s); retrying in %.1f s",
                     describe(exc), wait)
            await asyncio.sleep(wait)


class FinalDelivery:
    """Puts a finished text in ``reply`` (split at 2,000 characters): edited in place and
    retried while the interaction lives, else posted in the channel."""

    def __init__(self, reply: Reply, lifetime_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reply = reply
        self.lifetime_s = lifetime_s
        self.backoff = Backoff(lifetime_s)
        self.clock = clock
        self.fell_back = False
        self.lost = False

    async def put(self, text: str, first: Shower | None = None,
                  view: View | None = None) -> list[int]:
        """Deliver ``text``; ``first`` shows the first part (default ``reply.edit``; the
        dispatcher passes its throttled editor, ``ThrottledEditor.show``), ``view`` (the
        answer's buttons) goes with the last message. Returns the ids of the messages
        posted."""
        parts = split_message(text) or ["…"]
        ids: list[int] = []
        for index, part in enumerate(parts):
            show = self._shower(index, index == len(parts) - 1, first, view)
            try:
                ids.append(await self._in_place(show, part))
            except DISCORD_ERRORS as exc:
                log.warning("Discord did not accept the answer (%s); posting it in the "
                            "channel instead", describe(exc))
                ids += await self._fall_back(parts[index:], view)
                break
        return ids

    def _shower(self, index: int, last: bool, first: Shower | None,
                view: View | None) -> Callable[[str], Awaitable[int]]:
        extra = with_view(view if last else None)
        if index > 0:
            return functools.partial(self.reply.send, **extra)
        if first is None:
            return functools.partial(self.reply.edit, **extra)
        return functools.partial(first, edit=functools.partial(self.reply.edit, **extra)) \
            if extra else first

    async def _in_place(self, show: Callable[[str], Awaitable[int]], part: str) -> int:
        expires_at = self.reply.expires_at
        until = self.clock() + self.lifetime_s if expires_at is None else expires_at
        return await persist(lambda: show(part), until=until, backoff=self.backoff,
                             clock=self.clock)

    async def _fall_back(self, parts: list[str], view: View | None) -> list[int]:
        self.fell_back = True
        lead = self.reply.fallback_lead
        pieces = [p for part in parts for p in split_message(part, MESSAGE_LIMIT - len(lead))]
        until = self.clock() + self.lifetime_s
        ids: list[int] = []
        for index, piece in enumerate(pieces):
            content = lead + piece if index == 0 else piece
            extra = with_view(view if index == len(pieces) - 1 else None)
            try:
                ids.append(await persist(functools.partial(self.reply.fallback, content, **extra),
                                         until=until, backoff=self.backoff, clock=self.clock))
            except FALLBACK_ERRORS as exc:
                self.lost = True
                log.error("the answer could not be delivered: the channel refused it too (%s)",
                          exc if isinstance(exc, NoFallback) else describe(exc))
                break
        return ids
