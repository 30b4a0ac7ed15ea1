"""The Discord client: owns the worker, the executors and the memory; the commands and the
message handler (``commands.py``, ``conversation.py``) call into it.

It is a thin adapter: every answer, search and upload is one Engine call; this module only
decides where the call runs, how the result streams into Discord and what gets logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import discord
from discord import app_commands

from bot.discordbot import format as fmt
from bot.discordbot.guards import Cooldown, collection_for
from bot.discordbot.memory import ConversationMemory
from bot.discordbot.split import MESSAGE_LIMIT, split_message
from bot.discordbot.stream import NO_MENTIONS, Reply, ThrottledEditor
from bot.discordbot.worker import LLMWorker, QueueFull, TokenStream
from bot.metrics import Metrics
from config import Settings
from retrieval.engine import Engine
from retrieval.errors import ArticlebotError, InputError, ModelError, StorageError
from retrieval.questions import check_question
from retrieval.types import Answer

log = logging.getLogger("articlebot.discord")

T = TypeVar("T")
TokenCallback = Callable[[str], None]

APOLOGY = "Sorry, something went wrong on my side; it has been logged. Please try again."
_URL = r"[a-z][a-z0-9+.-]*://[^\s)]*[^\s).,;:]"
_PATH = r"(?<![\w.])/(?:[^\s/()]+/)*[^\s/()]*[^\s/().,;:]"
_LOCATION = re.compile(rf"\s+(?:at|in|from)\s+(?:{_URL}|{_PATH})", re.IGNORECASE)
_PATH_OR_URL = re.compile(rf"{_URL}|{_PATH}", re.IGNORECASE)


def member_sentence(exc: ArticlebotError) -> str:
    """What a member may see of a known error: never the data directory's path or the
    internal model server's address (the operator finds them in the log). A user's own
    link in an input error is quoted as is."""
    text = str(exc)
    if not isinstance(exc, ModelError | StorageError) or not _PATH_OR_URL.search(text):
        return text
    log.error("%s shown to a member without its location: %s", type(exc).__name__, text)
    return _PATH_OR_URL.sub("…", _LOCATION.sub("", text))
BUSY = "I'm busy answering other questions; try again in a moment."
UPLOADS_BUSY = "Other uploads are waiting to be stored; try again in a minute."


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
    result: T | None
    message_ids: list[int]
    first_edit_s: float | None
    total_s: float


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
        self.tree = app_commands.CommandTree(self)
        self.tree.error(self._on_command_error)
        self.worker = LLMWorker(settings.discord.queue_size)
        # Quick reads (lists, autocomplete, /search) must not wait behind the model.
        self.lookups = ThreadPoolExecutor(max_workers=2, thread_name_prefix="articlebot-lookup")
        # Uploads embed whole articles: one at a time, beside the model, never on the loop.
        self.ingests = ThreadPoolExecutor(max_workers=1, thread_name_prefix="articlebot-ingest")
        self.cooldown = Cooldown(settings.discord.cooldown_s)
        self.search_cooldown = Cooldown(settings.discord.search_cooldown_s)
        self._searches_pending = 0
        self._ingests_pending = 0
        self._ingest_turn = asyncio.Lock()  # FIFO: uploads and removals, one at a time
        self.memory = ConversationMemory(
            max_turns=max(settings.answer.history_turns, 1),
            path=settings.data_dir / "memory.sqlite3",
            max_keys_per_guild=settings.discord.memory_keys_per_guild)
        self._deliveries: set[asyncio.Task[Any]] = set()
        self.metrics = Metrics()  # served over HTTP by `articlebot run` when enabled
        self._shutting_down = False

        from bot.discordbot.commands import register

        register(self)

    # -- life cycle -------------------------------------------------------------------
    async def setup_hook(self) -> None:
        self.worker.start()
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

    async def close(self) -> None:
        """Finish what is running, then disconnect: the model job in progress completes and
        is delivered, queued ones are told the bot is restarting, uploads finish writing."""
        if not self._shutting_down:
            self._shutting_down = True
            await self.worker.close()
            me = asyncio.current_task()
            pending = [task for task in self._deliveries if not task.done() and task is not me]
            if pending:
                await asyncio.wait(pending, timeout=30)
        await super().close()
        for executor in (self.lookups, self.ingests):
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self.memory.close()

    async def on_message(self, message: discord.Message) -> None:
        from bot.discordbot.conversation import handle_message

        await handle_message(self, message)

    # -- helpers for the handlers -----------------------------------------------------
    def collection_of(self, guild_id: int | None) -> str:
        return collection_for(guild_id, self.settings.default_collection)

    async def lookup(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.lookups, functools.partial(fn, *args, **kwargs))

    def check_search_room(self) -> None:
        if self._searches_pending >= self.settings.discord.search_queue_size:
            raise Refusal(BUSY)

    async def run_search(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A member's /search in the lookup pool; refused when too many are waiting (the
        checks before a question are bounded by the model queue instead)."""
        self.check_search_room()
        self._searches_pending += 1
        try:
            return await self.lookup(fn, *args, **kwargs)
        finally:
            self._searches_pending -= 1

    def check_ingest_room(self) -> None:
        if self._ingests_pending >= self.settings.discord.upload_queue_size:
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

    def _track_current_task(self) -> None:
        """close() waits for this handler: its answer or upload reply gets delivered."""
        task = asyncio.current_task()
        if task is not None:
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    def check_question(self, question: str) -> str:
        return check_question(question, self.settings.limits.max_question_chars)

    def check_article_ref(self, article: str) -> None:
        """An article option is an id or a title; Discord lets a member type up to 6,000
        characters there, which quoted back in "No article ..." would not fit a message."""
        limit = self.settings.limits.max_title_chars
        if len(article.strip()) > limit:
            raise InputError(f"Article titles have at most {limit} characters; "
                             "pick the article from the list.")

    async def check_target(self, collection: str, article: str | None, *,
                           single: bool = False) -> None:
        """Before deferring: the collection has articles and ``article`` names one of them
        (``single``: or there is only one), so these mistakes get a private one-sentence
        reply instead of a public answer."""
        if article:
            self.check_article_ref(article)
            await self.lookup(self.engine.get_article, article, collection)
            return
        count = len(await self.lookup(self.engine.list_articles, collection))
        if not count:
            raise InputError("There are no articles here yet: an admin can add one with /upload.")
        if single and count > 1:
            raise InputError("Pick the article to summarise from the article option's list.")

    def enqueue(self, user_id: int, call: Callable[[TokenCallback], T]) -> Accepted[T]:
        """Queue a model call for ``user_id``, or refuse (cooldown, queue full)."""
        wait = self.cooldown.remaining(user_id)
        if wait > 0:
            raise Refusal(f"Please wait {math.ceil(wait)} s before asking again.")
        stream = TokenStream(asyncio.get_running_loop())

        def job() -> T:
            stream.started_at = time.monotonic()  # the queue wait ends here
            return call(stream.push)

        queued_at = time.monotonic()
        try:
            future, ahead = self.worker.submit(job)
        except QueueFull:
            raise Refusal(BUSY) from None
        self.cooldown.hit(user_id)
        self.metrics.set_queue_depth(self.worker.pending)
        return Accepted(future, stream, ahead, queued_at)

    async def deliver(
        self, reply: Reply, accepted: Accepted[T], render: Callable[[T], str], *, context: str
    ) -> Delivered[T]:
        """Stream the job's tokens into ``reply``, then show the final text (split at
        2,000 characters) and return what was posted."""
        self._track_current_task()
        editor = ThrottledEditor(reply.edit, self.settings.discord.edit_interval_s)
        if accepted.ahead:
            await editor.show(fmt.queued(accepted.ahead))
        follower = asyncio.create_task(editor.follow(accepted.stream))
        result: T | None = None
        try:
            result = await accepted.future
            text = render(result)
        except ArticlebotError as exc:
            text = member_sentence(exc)
        except QueueFull:
            text = "I'm restarting; please ask again in a minute."
        except Exception:
            log.exception("unexpected error while answering (%s)", context)
            self.metrics.count_error("answer")
            text = APOLOGY
        finally:
            await editor.stop(follower)
        parts = split_message(text) or ["…"]
        ids = [await editor.show(parts[0])]
        for part in parts[1:]:
            ids.append(await reply.send(part))
        first = None if editor.first_edit_at is None else editor.first_edit_at - accepted.queued_at
        return Delivered(result, ids, first, time.monotonic() - accepted.queued_at)

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
            "abstained=%s", kind, guild_id or "dm", accepted.ahead,
            "-" if started is None else f"{started - accepted.queued_at:.2f}",
            "-" if delivered.first_edit_s is None else f"{delivered.first_edit_s:.2f}",
            delivered.total_s, accepted.stream.tokens, "-" if abstained is None else abstained,
        )
        log.debug("%s guild=%s question=%r", kind, guild_id or "dm", question)

    # -- errors -----------------------------------------------------------------------
    async def _on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        cause = getattr(error, "original", error)
        if isinstance(cause, ArticlebotError):
            message = member_sentence(cause)
        else:
            command = interaction.command.name if interaction.command else "?"
            log.error("command /%s failed (guild=%s user=%s)", command, interaction.guild_id,
                      interaction.user.id, exc_info=cause)
            self.metrics.count_error("command")
            message = APOLOGY
        await self.tell(interaction, message)

    async def tell(self, interaction: discord.Interaction, message: str) -> None:
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
