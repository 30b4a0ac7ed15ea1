"""An attachment over the size limit: refused before download, in the same units as the CLI."""

from __future__ import annotations

from discordkit import SceneFactory

from retrieval.ingest.documents import format_size


async def test_an_oversized_attachment_is_refused_in_the_same_units_as_the_cli(
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene("ada", admins={"ada"}, sample=False, guild="Home",
                          **{"limits.max_file_bytes": 2000})
    fake, guild, [admin] = scene.fake, scene.guild, scene.members
    body = b"Harbour News\n\n" + b"The ferry to Skye now leaves Mallaig every hour. " * 60
    async with scene.running():
        inter = await fake.slash(guild, admin, "upload",
                                 {"file": fake.attachment(body, "harbour.txt", "text/plain")})
        done = await inter.wait_done(lambda i: i.acked and bool(i.content), timeout=60)
    assert done.content == (f"harbour.txt is {format_size(len(body))}; the limit is 2 KB.")
    assert format_size(len(body)) == "2.9 KB"  # not "0.0 MB" (decimal megabytes)
    assert done.ephemeral
    assert scene.engine.list_articles(scene.collection) == []
    fake.assert_no_unknown_routes()
