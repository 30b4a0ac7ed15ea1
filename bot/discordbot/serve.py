"""Start-up and shutdown of the Discord bot, shared by ``articlebot run`` (``bot.run``) and
the end-to-end tests.

``serve`` builds the client around one Engine, logs in (which syncs the slash commands in
``setup_hook``), loads the models, connects, and on SIGINT/SIGTERM closes the client first
(no new work, the running job finishes) and then the Engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import discord

from bot.discordbot.client import ArticleBot, create_client
from bot.discordbot.schedule import back_up_on_schedule
from bot.metrics import start_http
from config import Settings
from retrieval.engine import Engine
from retrieval.errors import ArticlebotError

log = logging.getLogger("articlebot.discord")

TOKEN_ENV = "DISCORD_TOKEN"
DEV_GUILD_ENV = "ARTICLEBOT_DEV_GUILD"


class StartupError(ArticlebotError):
    """The bot cannot start or stay connected; the message says why in one sentence."""


class RedactToken(logging.Filter):
    """Belt and braces: no log record, from any library, may show the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "[token]"), None
        # A traceback can quote it too (an exception carrying a request, say): handlers then
        # get the redacted text instead of the exception object.
        traceback = record.exc_text or (
            _TRACEBACKS.formatException(record.exc_info) if record.exc_info else "")
        if self.token in traceback:
            record.exc_text, record.exc_info = traceback.replace(self.token, "[token]"), None
        if record.stack_info and self.token in record.stack_info:
            record.stack_info = record.stack_info.replace(self.token, "[token]")
        return True


_TRACEBACKS = logging.Formatter()


@contextlib.contextmanager
def _redacted_logs(token: str) -> Iterator[None]:
    handlers = list(logging.getLogger().handlers)
    redact = RedactToken(token)
    for handler in handlers:
        handler.addFilter(redact)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(redact)


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # e.g. Windows
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def dev_guild_from_env() -> int | None:
    value = os.environ.get(DEV_GUILD_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise StartupError(f"{DEV_GUILD_ENV} must be a server id (digits), not {value!r}.")
    return int(value)


async def serve(
    settings: Settings,
    engine: Engine | None = None,
    *,
    token: str,
    stop: asyncio.Event | None = None,
    client_options: dict[str, Any] | None = None,
    on_client: Callable[[ArticleBot], object] | None = None,
) -> None:
    """Run the bot until ``stop`` is set, SIGINT/SIGTERM arrives or the connection ends.

    ``client_options`` go to the discord.py client (tests shorten ``guild_ready_timeout``);
    ``on_client`` receives the client once built. The Engine is closed on the way out."""
    engine = engine if engine is not None else Engine(settings)
    stop = stop or asyncio.Event()
    try:
        client = create_client(settings, engine, dev_guild=dev_guild_from_env(),
                               **(client_options or {}))
        if on_client is not None:
            on_client(client)
        with _redacted_logs(token), _stop_on_signals(stop):
            async with client, _metrics_http(settings, client):
                await _login(client, token)
                await asyncio.to_thread(engine.warm_up)  # models load before the first event
                backups = asyncio.create_task(back_up_on_schedule(engine, settings),
                                              name="backups")
                try:
                    await _run_until(client, stop)
                finally:
                    backups.cancel()
    finally:
        engine.close()
        log.info("stopped")


@contextlib.asynccontextmanager
async def _metrics_http(settings: Settings, client: ArticleBot) -> AsyncIterator[None]:
    """``/metrics`` and ``/healthz`` (ready = models loaded and gateway connected)."""
    if not settings.metrics.enabled:
        yield
        return
    cfg = settings.metrics
    try:
        runner = await start_http(client.metrics, client.is_ready, cfg.host, cfg.port)
    except OSError as exc:
        raise StartupError(f"Could not serve metrics on {cfg.host}:{cfg.port} ({exc}).") from None
    log.info("metrics on http://%s:%d/metrics", cfg.host, cfg.port)
    try:
        yield
    finally:
        await runner.cleanup()


async def _login(client: ArticleBot, token: str) -> None:
    try:
        await client.login(token)
    except discord.LoginFailure:
        raise StartupError(f"Discord rejected the token in {TOKEN_ENV}; copy the bot token "
                           "again from the Developer Portal (Bot → Reset Token).") from None
    except (OSError, aiohttp.ClientError, discord.HTTPException) as exc:
        raise StartupError(f"Could not log in to Discord ({exc}).") from None


async def _run_until(client: ArticleBot, stop: asyncio.Event) -> None:
    connection = asyncio.create_task(client.connect(), name="discord-connection")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not connection.done():
        log.info("shutting down")
        await client.close()
    try:
        await connection
    except discord.PrivilegedIntentsRequired:
        raise StartupError("Discord refused the Message Content intent: enable it in the "
                           "Developer Portal (Bot → Privileged Gateway Intents).") from None
    except (OSError, aiohttp.ClientError, discord.DiscordException) as exc:
        raise StartupError(f"The connection to Discord ended ({exc}).") from None
