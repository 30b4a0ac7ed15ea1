"""Two bot processes' worth of clients, each running some of the shards (``shard_ids``),
on one data directory: every server is served by exactly one of them, and the collections
they share stay whole."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fakediscord import FakeDiscord

from bot.discordbot.client import ArticleBot
from bot.discordbot.serve import serve
from config import ConfigError
from retrieval.engine import SAMPLE_NAME, Engine

NOTE = "{place} News\n\nThe ferry to {place} now leaves every hour, the harbour master said.\n"


def test_shard_ids_need_a_numeric_shard_count_and_must_fit_it(
    make_settings: Callable[..., object],
) -> None:
    with pytest.raises(ConfigError, match="shard_ids"):
        make_settings(**{"discord.shard_ids": [0]})
    with pytest.raises(ConfigError, match="shard_ids"):
        make_settings(**{"discord.shard_count": 2, "discord.shard_ids": [2]})


async def test_two_processes_split_the_shards_of_one_bot_over_one_data_directory(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engines = [make_engine(**{"discord.shard_count": 2, "discord.shard_ids": [i]})
               for i in range(2)]
    async with FakeDiscord(shard_count=2) as fake:
        fake.install(monkeypatch)
        guilds = [fake.add_guild(f"G{i}") for i in range(2)]
        admins = [g.add_member(f"admin{i}", admin=True) for i, g in enumerate(guilds)]
        clients: list[ArticleBot] = []
        stop = asyncio.Event()
        tasks = [asyncio.create_task(serve(e.settings, e, token=fake.token, stop=stop,
                                           client_options={"guild_ready_timeout": 0.05},
                                           on_client=clients.append)) for e in engines]
        try:
            await fake.wait_ready(180)
            for client in clients:
                await asyncio.wait_for(client.wait_until_ready(), 180)
            assert sorted(tuple(c.shard_ids or ()) for c in clients) == [(0,), (1,)]
            uploads = [await fake.slash(g, a, "upload", {"file": fake.attachment(
                NOTE.format(place=f"Isle{i}").encode(), "note.txt", "text/plain")})
                for i, (g, a) in enumerate(zip(guilds, admins))]
            for i, inter in enumerate(uploads):
                done = await inter.wait_done(lambda x: x.acked and bool(x.content), timeout=60)
                assert done.content.startswith(f"Stored **Isle{i} News**"), done.content
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 120)

    fresh = make_engine(data_dir=engines[0].settings.data_dir)
    # Both processes preloaded the shared collection at once: the sample is there once.
    assert [a.source for a in fresh.list_articles()] == [SAMPLE_NAME]
    for i, guild in enumerate(guilds):
        titles = [a.title for a in fresh.list_articles(f"guild-{guild.id}")]
        assert titles == [f"Isle{i} News"]
