"""An attachment over the size limit: refused before download, in the same units as the CLI."""

from __future__ import annotations

from collections.abc import Callable

from fakediscord import FakeDiscord
from fakediscord.articlebot import running_articlebot

from retrieval.documents import format_size
from retrieval.engine import Engine


async def test_an_oversized_attachment_is_refused_in_the_same_units_as_the_cli(
    fake_discord: FakeDiscord, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(**{"limits.max_file_bytes": 2000})
    fake = fake_discord
    guild = fake.add_guild("Home")
    admin = guild.add_member("ada", admin=True)
    body = b"Harbour News\n\n" + b"The ferry to Skye now leaves Mallaig every hour. " * 60
    async with running_articlebot(fake, engine.settings, engine):
        inter = await fake.slash(guild, admin, "upload",
                                 {"file": fake.attachment(body, "harbour.txt", "text/plain")})
        done = await inter.wait_done(lambda i: i.acked and bool(i.content), timeout=60)
    assert done.content == (f"harbour.txt is {format_size(len(body))}; the limit is 2 KB.")
    assert format_size(len(body)) == "2.9 KB"  # not "0.0 MB" (decimal megabytes)
    assert done.ephemeral
    assert engine.list_articles(f"guild-{guild.id}") == []
    fake.assert_no_unknown_routes()
