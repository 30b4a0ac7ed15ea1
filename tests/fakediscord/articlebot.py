"""Run articlebot's real start-up path (``bot.discordbot.serve``, what ``articlebot run``
calls) against a :class:`FakeDiscord`, for the end-to-end tests in ``tests/test_bot_*.py``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .server import FakeDiscord

if TYPE_CHECKING:
    from bot.discordbot.client import ArticleBot
    from config import Settings
    from retrieval.engine import Engine


@contextlib.asynccontextmanager
async def running_articlebot(
    fake: FakeDiscord,
    settings: Settings,
    engine: Engine,
    *,
    token: str | None = None,
    timeout: float = 180.0,
    **client_options: Any,
) -> AsyncIterator[ArticleBot]:
    """Start ``serve`` in a task, yield the client once it is connected and ready, then
    stop it the way SIGTERM does and re-raise anything ``serve`` raised."""
    from bot.discordbot.serve import serve

    clients: list[ArticleBot] = []
    stop = asyncio.Event()
    options = {"guild_ready_timeout": 0.05, **client_options}
    task = asyncio.create_task(
        serve(settings, engine, token=token or fake.token, stop=stop,
              client_options=options, on_client=clients.append),
        name="articlebot-serve",
    )
    try:
        ready = asyncio.ensure_future(fake.wait_ready(timeout))
        await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            task.result()  # serve ended early: raise its error
            raise RuntimeError("serve() returned before the bot connected")
        ready.result()
        client = clients[0]
        await asyncio.wait_for(client.wait_until_ready(), timeout)
        yield client
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.shield(task), 60)


def sent_messages(fake: FakeDiscord) -> list[tuple[str, str, dict[str, Any]]]:
    """Every request in which the bot sent or edited message content:
    ``(method, path, payload)``, payload being the JSON (or ``payload_json``) body."""
    out = []
    for r in fake.requests:
        body = r.json if isinstance(r.json, dict) else {}
        data = body.get("data") if "/callback" in r.path else body
        if isinstance(data, dict) and data.get("content"):
            out.append((r.method, r.path, data))
    return out
