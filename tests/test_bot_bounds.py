"""End to end on the fake Discord: bounded upload and lookup queues, the /search cooldown,
and queued uploads that hold no file bytes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from fakediscord import FakeDiscord, FakeInteraction
from fakediscord.articlebot import running_articlebot

from bot.discordbot.dispatch import UPLOADS_BUSY
from retrieval.engine import Engine

NOTE = (b"Harbour News\n\nThe ferry to Skye now leaves Mallaig every hour, the harbour "
        b"master said.\n")


async def reply_of(inter: FakeInteraction) -> str:
    done = await inter.wait_done(lambda i: i.acked and bool(i.content), timeout=60)
    return done.content


async def test_uploads_wait_their_turn_without_their_bytes_and_the_queue_is_bounded(
    fake_discord: FakeDiscord, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(**{"discord.upload_queue_size": 2})
    gate = threading.Event()
    real_ingest = engine.ingest_bytes

    def slow_ingest(*args: Any, **kwargs: Any) -> Any:
        gate.wait(60)
        return real_ingest(*args, **kwargs)

    engine.ingest_bytes = slow_ingest  # type: ignore[method-assign]
    fake = fake_discord
    home = fake.add_guild("Home")
    admin = home.add_member("ada", admin=True)
    async with running_articlebot(fake, engine.settings, engine):
        first = await fake.slash(home, admin, "upload",
                                 {"file": fake.attachment(NOTE, "one.txt", "text/plain")})
        await first.wait_deferred(timeout=5)
        for _ in range(100):  # the first upload's file is fetched at once
            if fake.cdn_fetches:
                break
            await asyncio.sleep(0.05)
        second = await fake.slash(home, admin, "upload", {
            "file": fake.attachment(NOTE.replace(b"hour", b"day"), "two.txt", "text/plain")})
        await second.wait_deferred(timeout=5)
        await asyncio.sleep(0.5)
        assert [path for _, path in fake.cdn_fetches if "two.txt" in path] == []
        third = await fake.slash(home, admin, "upload", {
            "file": fake.attachment(NOTE.replace(b"hour", b"week"), "three.txt", "text/plain")})
        assert await reply_of(third) == UPLOADS_BUSY
        assert third.ephemeral
        gate.set()
        assert (await reply_of(first)).startswith("Stored **Harbour News**")
        assert (await reply_of(second)).startswith("Replaced **Harbour News**")
        assert [path for _, path in fake.cdn_fetches if "two.txt" in path]


async def test_search_has_its_own_cooldown(
    fake_discord: FakeDiscord, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(**{"discord.search_cooldown_s": 30.0})
    fake = fake_discord
    home = fake.add_guild("Home")
    member = home.add_member("bob")
    engine.ingest_bytes(NOTE, "note.txt", collection=f"guild-{home.id}")
    async with running_articlebot(fake, engine.settings, engine):
        first = await fake.slash(home, member, "search", {"query": "ferry Skye"})
        assert "Harbour News" in await reply_of(first)
        again = await fake.slash(home, member, "search", {"query": "ferry Skye"})
        text = await reply_of(again)
        assert again.ephemeral and text.startswith("Please wait ") and \
            text.endswith(" s before searching again.")


async def test_searches_beyond_the_queue_are_told_the_bot_is_busy(
    fake_discord: FakeDiscord, make_engine: Callable[..., Engine]
) -> None:
    from bot.discordbot.dispatch import BUSY

    engine = make_engine(**{"discord.search_queue_size": 3})
    gate = threading.Event()
    real_search = engine.search

    def slow_search(*args: Any, **kwargs: Any) -> Any:
        gate.wait(60)
        return real_search(*args, **kwargs)

    engine.search = slow_search  # type: ignore[method-assign]
    fake = fake_discord
    home = fake.add_guild("Home")
    members = [home.add_member(f"user{i}") for i in range(4)]
    engine.ingest_bytes(NOTE, "note.txt", collection=f"guild-{home.id}")
    async with running_articlebot(fake, engine.settings, engine):
        waiting = []
        for member in members[:3]:
            inter = await fake.slash(home, member, "search", {"query": "ferry Skye"})
            await inter.wait_deferred(timeout=5)
            waiting.append(inter)
        refused = await fake.slash(home, members[3], "search", {"query": "ferry Skye"})
        assert await reply_of(refused) == BUSY
        assert refused.ephemeral
        gate.set()
        for inter in waiting:
            assert "Harbour News" in await reply_of(inter)
