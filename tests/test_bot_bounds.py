"""End to end on the fake Discord: bounded upload and lookup queues, the /search cooldown,
and queued uploads that hold no file bytes."""

from __future__ import annotations

import asyncio

from discordkit import SceneFactory, hold, reply_of

from bot.discordbot.dispatch import BUSY, UPLOADS_BUSY

NOTE = (b"Harbour News\n\nThe ferry to Skye now leaves Mallaig every hour, the harbour "
        b"master said.\n")


async def test_uploads_wait_their_turn_without_their_bytes_and_the_queue_is_bounded(
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene("ada", admins={"ada"}, sample=False, guild="Home",
                          **{"discord.upload_queue_size": 2})
    fake, home, [admin], engine = scene.fake, scene.guild, scene.members, scene.engine
    gate = hold(engine, "ingest_bytes")
    async with scene.running():
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
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene("bob", sample=False, guild="Home",
                          **{"discord.search_cooldown_s": 30.0})
    fake, home, [member] = scene.fake, scene.guild, scene.members
    scene.engine.ingest_bytes(NOTE, "note.txt", collection=scene.collection)
    async with scene.running():
        first = await fake.slash(home, member, "search", {"query": "ferry Skye"})
        assert "Harbour News" in await reply_of(first)
        again = await fake.slash(home, member, "search", {"query": "ferry Skye"})
        text = await reply_of(again)
        assert again.ephemeral and text.startswith("Please wait ") and \
            text.endswith(" s before searching again.")


async def test_searches_beyond_the_queue_are_told_the_bot_is_busy(
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene(*(f"user{i}" for i in range(4)), sample=False, guild="Home",
                          **{"discord.search_queue_size": 3})
    fake, home, members, engine = scene.fake, scene.guild, scene.members, scene.engine
    gate = hold(engine, "search")
    engine.ingest_bytes(NOTE, "note.txt", collection=scene.collection)
    async with scene.running():
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
