"""Where a handler's work runs and how its result reaches Discord.

One ``Dispatcher`` is built with the client and handed to the slash commands and the message
handler. It owns the bounded queues (the model worker with its per-user cooldown, the lookup
pool, the one ingest slot), streams a model job's tokens into a reply, and logs one line per
answer. It knows nothing of the Engine: handlers pass it the calls to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import discord

from bot.discordbot import format as fmt
from bot.discordbot.delivery import FinalDelivery
from bot.discordbot.guards import Cooldown
from bot.discordbot.stream import InteractionReply, Reply, ThrottledEditor
from bot.discordbot.worker import LLMWorker, QueueExpired, QueueFull, TokenStream
from bot.metrics import Metrics
from config import Settings
from retrieval.errors import ArticlebotError
from retrieval.types import Answer

log = logging.getLogger("articlebot.discord")

T = TypeVar("T")
TokenCallback = Callable[[str], None]
Attach = Callable[[T, float], Awaitable[discord.ui.View | None]]

BUSY = "I'm busy answering other questions; try again in a moment."
UPLOADS_BUSY = "Other uploads are waiting to be stored; try again in a minute."
RESTARTING = "I'm restarting; please ask again in a minute."
QUEUE_TOO_LONG = "The queue was too long for your question; please ask again."
DISCORD_REFUSED = "Discord did not accept my reply; please try again."


class Refusal(ArticlebotError):
    """A request the bot declines (cooldown, busy, not allowed): one sentence for the user."""


@dataclass
class Accepted(Generic[T]):
    """A queued model job and the token stream it feeds."""

    future: asyncio.Future[T]
    stream: TokenStream
    ahead: int
    queued_at: float


@dataclass
class Delivered(Generic[T]):
    """What a delivered job showed: its result (``None`` when it failed), the ids of the
    messages it filled, how long the first preview and the whole answer took, and whether
    it went to the channel instead (``fell_back``) or nowhere (``lost``)."""

    result: T | None
    message_ids: list[int]
    first_edit_s: float | None
    total_s: float
    fell_back: bool = False
    lost: bool = False


class Dispatcher:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        cfg = settings.discord
        self.metrics = metrics
        self.worker = LLMWorker(cfg.queue_size)
        # Quick reads (lists, autocomplete, /search) must not wait behind the model.
        self.lookups = ThreadPoolExecutor(max_workers=2, thread_name_prefix="articlebot-lookup")
        # Uploads embed whole articles: one at a time, beside the model, never on the loop.
        self.ingests = ThreadPoolExecutor(max_workers=1, thread_name_prefix="articlebot-ingest")
        self.cooldown = Cooldown(cfg.cooldown_s)
        self.search_cooldown = Cooldown(cfg.search_cooldown_s)
        self._edit_interval_s = cfg.edit_interval_s
        self._lifetime_s = cfg.interaction_lifetime_s
        self._queue_margin_s = cfg.queue_margin_s
        self._search_queue_size = cfg.search_queue_size
        self._upload_queue_size = cfg.upload_queue_size
        self._searches_pending = 0
        self._ingests_pending = 0
        self._ingest_turn = asyncio.Lock()  # FIFO: uploads and removals, one at a time
        self._deliveries: set[asyncio.Task[Any]] = set()

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        self.worker.start()

    async def drain(self) -> None:
        """No new model jobs; the running one completes and every handler that is
        delivering an answer or storing an upload finishes (up to 30 s)."""
        await self.worker.close()
        me = asyncio.current_task()
        pending = [task for task in self._deliveries if not task.done() and task is not me]
        if pending:
            await asyncio.wait(pending, timeout=30)

    async def close(self) -> None:
        for executor in (self.lookups, self.ingests):
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    def _track_current_task(self) -> None:
        """``drain`` waits for this handler: its answer or upload reply gets delivered."""
        task = asyncio.current_task()
        if task is not None:
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    # -- lookups and searches ---------------------------------------------------------
    async def lookup(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.lookups, functools.partial(fn, *args, **kwargs))

    def admit_search(self, user_id: int) -> None:
        """Before deferring a /search: its own cooldown, then room in the search queue."""
        wait = self.search_cooldown.remaining(user_id)
        if wait > 0:
            raise Refusal(f"Please wait {math.ceil(wait)} s before searching again.")
        self._check_search_room()
        self.search_cooldown.hit(user_id)

    def _check_search_room(self) -> None:
        if self._searches_pending >= self._search_queue_size:
            raise Refusal(BUSY)

    async def run_search(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A member's /search in the lookup pool; refused when too many are waiting (the
        checks before a question are bounded by the model queue instead)."""
        self._check_search_room()
        self._searches_pending += 1
        try:
            return await self.lookup(fn, *args, **kwargs)
        finally:
            self._searches_pending -= 1

    # -- uploads and removals ---------------------------------------------------------
    def check_ingest_room(self) -> None:
        if self._ingests_pending >= self._upload_queue_size:
            raise Refusal(UPLOADS_BUSY)

    @contextlib.asynccontextmanager
    async def ingest_turn(self) -> AsyncIterator[None]:
        """Wait (bounded by ``discord.upload_queue_size``) for the one ingest slot: what an
        upload needs (its file's bytes) is fetched only once its turn has come."""
        self.check_ingest_room()
        self._track_current_task()
        self._ingests_pending += 1
        try:
            async with self._ingest_turn:
                yield
        finally:
            self._ingests_pending -= 1

    async def run_ingest(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a write in the ingest thread; call inside ``ingest_turn``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.ingests, functools.partial(fn, *args, **kwargs))

    async def ingest(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async with self.ingest_turn():
            return await self.run_ingest(fn, *args, **kwargs)

    # -- model jobs -------------------------------------------------------------------
    def interaction_reply(self, interaction: discord.Interaction, *,
                          private: bool = False) -> InteractionReply:
        """Where a slash command's answer goes; its token lives ``interaction_lifetime_s``.
        A ``private`` (ephemeral) reply is never posted in the channel instead."""
        return InteractionReply(interaction, self._lifetime_s, private=private)

    async def respond(self, interaction: discord.Interaction, text: str, *,
                      private: bool = False) -> list[int]:
        """Put a deferred command's final text in place, as an answer's is (retried, or
        posted in the channel)."""
        reply = self.interaction_reply(interaction, private=private)
        final = FinalDelivery(reply, self._lifetime_s)
        ids = await final.put(text)
        if final.lost:
            self.metrics.count_error("delivery")
        return ids

    def enqueue(self, user_id: int, call: Callable[[TokenCallback], T], *,
                expires_at: float | None = None) -> Accepted[T]:
        """Queue a model call for ``user_id``, or refuse (cooldown, queue full).

        With ``expires_at`` (the reply's, for an interaction) the call must start at least
        ``queue_margin_s`` before it; otherwise it is dropped while its note can still be
        edited, and delivering it shows ``QUEUE_TOO_LONG``."""
        wait = self.cooldown.remaining(user_id)
        if wait > 0:
            raise Refusal(f"Please wait {math.ceil(wait)} s before asking again.")
        stream = TokenStream(asyncio.get_running_loop())

        def job() -> T:
            stream.started_at = time.monotonic()  # the queue wait ends here
            return call(stream.push)

        queued_at = time.monotonic()
        start_by = None if expires_at is None else expires_at - self._queue_margin_s
        try:
            future, ahead = self.worker.submit(job, start_by=start_by)
        except QueueFull:
            raise Refusal(BUSY) from None
        self.cooldown.hit(user_id)
        self.metrics.set_queue_depth(self.worker.pending)
        return Accepted(future, stream, ahead, queued_at)

    async def deliver(
        self, reply: Reply, accepted: Accepted[T], render: Callable[[T], str], *, context: str,
        attach: Attach[T] | None = None,
    ) -> Delivered[T]:
        """Stream the job's tokens into ``reply``, then show the final text (split at
        2,000 characters; retried, or posted in the channel, when Discord refuses it) and
        return what was posted. ``attach(result, seconds since queued)`` gives the buttons
        that go with the final text (the answer's 👍/👎), or None."""
        self._track_current_task()
        editor = ThrottledEditor(reply.edit, self._edit_interval_s)
        if accepted.ahead:
            await editor.try_show(fmt.queued(accepted.ahead))
        follower = asyncio.create_task(editor.follow(accepted.stream))
        result: T | None = None
        try:
            result = await accepted.future
            text = render(result)
        except ArticlebotError as exc:
            text = fmt.member_sentence(exc)
        except QueueExpired:
            log.info("dropped a queued question before it ran: its interaction would expire "
                     "first (%s)", context)
            self.metrics.count_error("queue_expired")
            text = QUEUE_TOO_LONG
        except QueueFull:
            text = RESTARTING
        except Exception:
            log.exception("unexpected error while answering (%s)", context)
            self.metrics.count_error("answer")
            text = fmt.APOLOGY
        finally:
            await editor.stop(follower)
        view = None
        if attach is not None and result is not None:
            view = await attach(result, time.monotonic() - accepted.queued_at)
        final = FinalDelivery(reply, self._lifetime_s)
        ids = await final.put(text, first=editor.show, view=view)
        if final.lost:
            self.metrics.count_error("delivery")
        first = None if editor.first_edit_at is None else editor.first_edit_at - accepted.queued_at
        return Delivered(result, ids, first, time.monotonic() - accepted.queued_at,
                         final.fell_back, final.lost)

    def log_answer(self, kind: str, guild_id: int | None, accepted: Accepted[Any],
                   delivered: Delivered[Any], question: str) -> None:
        result = delivered.result
        abstained = result.abstained if isinstance(result, Answer) else None
        if isinstance(result, Answer):
            self.metrics.observe_answer(result)
        self.metrics.set_queue_depth(self.worker.pending)
        started = accepted.stream.started_at
        log.info(
            "%s guild=%s queued_ahead=%d wait_s=%s first_edit_s=%s total_s=%.2f tokens=%d "
            "abstained=%s delivered=%s", kind, guild_id or "dm", accepted.ahead,
            "-" if started is None else f"{started - accepted.queued_at:.2f}",
            "-" if delivered.first_edit_s is None else f"{delivered.first_edit_s:.2f}",
            delivered.total_s, accepted.stream.tokens, "-" if abstained is None else abstained,
            "lost" if delivered.lost else "channel" if delivered.fell_back else "edited",
        )
        log.debug("%s guild=%s question=%r", kind, guild_id or "dm", question)
