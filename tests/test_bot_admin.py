"""End to end: uploads (txt, md, html, pdf, URL), removal, who may do them, and keeping each
server's articles to itself. No model generation here except one refused question."""

from __future__ import annotations

import re
from collections.abc import Callable

from discordkit import SAMPLE_TITLE, SceneFactory, add_sample, reply_of
from fakediscord import FakeDiscord
from fakediscord.articlebot import running_articlebot
from test_documents import make_pdf

from retrieval.engine import Engine

TXT = b"Harbour News\n\nThe ferry to Skye now leaves Mallaig every hour, the harbour master said.\n"
MD = (b"# Bakery Opens\n\nA new bakery opened on Mill Street on Friday, selling rye bread to a "
      b"queue of more than a hundred customers.\n")
HTML = (b"<html><head><title>Library Hours</title></head><body><article><h1>Library Hours</h1>"
        b"<p>The city library will open on Sundays from May, the council announced on Monday, "
        b"after a petition signed by four thousand residents asked for weekend hours.</p>"
        b"<p>Staff will work in rotating shifts and two new librarians will be hired.</p>"
        b"</article></body></html>")
PDF = make_pdf(["Bridge Repairs", "The old bridge over the Tay closes for repairs in March."])
ELECTION = (b"<html><head><title>Council Election</title></head><body><article>"
            b"<h1>Council Election</h1><p>Turnout in the council election reached sixty-one "
            b"percent, the highest in twenty years, the returning officer said on Friday.</p>"
            b"<p>The new council meets for the first time on the second of June.</p>"
            b"</article></body></html>")


async def test_admins_upload_every_file_type_members_cannot_and_servers_stay_apart(
    fake_discord: FakeDiscord, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(**{"discord.admin_role": "Editors"})
    assert engine.settings.limits.allow_private_urls is False
    fake = fake_discord
    home = fake.add_guild("Home")
    admin = home.add_member("ada", admin=True)
    editor = home.add_member("eddie", roles=["Editors"])
    member = home.add_member("bob")
    other = fake.add_guild("Elsewhere")
    outsider = other.add_member("olga", admin=True)
    add_sample(engine, other)

    async with running_articlebot(fake, engine.settings, engine):
        files = [(TXT, "harbour.txt", "text/plain", "Harbour News"),
                 (MD, "bakery.md", "text/markdown", "Bakery Opens"),
                 (HTML, "library.html", "text/html", "Library Hours"),
                 (PDF, "bridge.pdf", "application/pdf", "Bridge Repairs")]
        for data, name, ctype, title in files:
            inter = await fake.slash(home, admin, "upload",
                                     {"file": fake.attachment(data, name, ctype)})
            assert await inter.wait_deferred(timeout=3) < 3
            content = await reply_of(inter)
            assert inter.ephemeral and content.startswith(f"Stored **{title}** (id "), content
        # The admin role from the config counts too; a title option replaces by title.
        inter = await fake.slash(home, editor, "upload", {
            "file": fake.attachment(TXT.replace(b"every hour", b"twice a day"), "h2.txt",
                                    "text/plain"),
            "title": "Harbour News"})
        assert (await reply_of(inter)).startswith("Replaced **Harbour News**")
        # Private addresses stay refused unless the config allows them.
        inter = await fake.slash(home, admin, "upload",
                                 {"url": fake.serve_file(ELECTION, "e.html", "text/html")})
        refused = await reply_of(inter)
        assert inter.ephemeral and refused.count(".") >= 1 and "\n" not in refused

        # Members cannot upload or remove: a private sentence, nothing deferred, nothing stored.
        for command, options in (("upload", {"file": fake.attachment(MD, "x.md")}),
                                 ("remove", {"article": "Bakery Opens"})):
            inter = await fake.slash(home, member, command, options)
            text = await reply_of(inter)
            assert inter.ack_type == 4 and inter.ephemeral
            assert text == ("Only members with the Manage Server permission or the Editors "
                            "role can do that.")
        titles = {a.title for a in engine.list_articles(f"guild-{home.id}")}
        assert titles == {"Harbour News", "Bakery Opens", "Library Hours", "Bridge Repairs"}

        listing = await reply_of(await fake.slash(home, member, "articles"))
        assert listing.startswith("**4 articles in this server**")
        assert "**Bridge Repairs** — added " in listing and " by ada, " in listing

        # Autocomplete offers this server's articles, by id; /remove takes one.
        choices = await fake.autocomplete(home, admin, "remove", {"article": "bak"},
                                          focused="article")
        assert [c["name"] for c in choices] == ["Bakery Opens"]
        inter = await fake.slash(home, admin, "remove", {"article": choices[0]["value"]})
        assert (await reply_of(inter)).startswith("Removed **Bakery Opens**")

        # The other server sees none of it: not listed, offered, found or answered.
        listing = await reply_of(await fake.slash(other, outsider, "articles"))
        assert "Harbour" not in listing and "**1 article in this server**" in listing
        assert await fake.autocomplete(other, outsider, "ask", {"article": "Harb"},
                                       focused="article") == []
        found = await reply_of(await fake.slash(other, outsider, "search",
                                                {"query": "ferry to Skye from Mallaig"}))
        titles = re.findall(r"\*\*\d+\.\*\* \*(.+?)\*, paragraph", found)
        assert titles and set(titles) == {SAMPLE_TITLE}, found
        inter = await fake.slash(other, outsider, "ask",
                                 {"question": "How often does the ferry leave?",
                                  "article": "Harbour News"})
        assert await reply_of(inter) == "No article 'Harbour News' in this collection."
        assert inter.ephemeral
        inter = await fake.slash(other, outsider, "ask",
                                 {"question": "How often does the ferry to Skye leave Mallaig?"})
        answer = await (inter.wait_done(lambda i: bool(i.content) and not i.content.endswith("…"),
                                        timeout=120))
        assert "every hour" not in answer.content and "Harbour" not in answer.content

        # DMs are read-only.
        inter = await fake.slash(None, admin, "upload", {"file": fake.attachment(TXT, "t.txt")})
        assert await reply_of(inter) == ("Articles can't be changed in DMs; use the commands "
                                         "in a server.")
    fake.assert_no_unknown_routes()


async def test_upload_from_a_url_served_on_loopback_when_the_config_allows_it(
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene("ada", admins={"ada"}, sample=False, guild="Home",
                          **{"limits.allow_private_urls": True})
    fake, guild, [admin] = scene.fake, scene.guild, scene.members
    url = fake.serve_file(ELECTION, "election.html", "text/html")
    async with scene.running():
        inter = await fake.slash(guild, admin, "upload", {"url": url})
        assert (await reply_of(inter)).startswith("Stored **Council Election** (id ")
        again = await fake.slash(guild, admin, "upload", {"url": url})
        assert (await reply_of(again)).startswith("Already stored **Council Election**")
        both = await fake.slash(guild, admin, "upload",
                                {"url": url, "file": fake.attachment(TXT, "t.txt")})
        assert await reply_of(both) == "Give either a file or a url, not both or neither."
    [article] = scene.engine.list_articles(scene.collection)
    assert article.source == url and article.added_by == "ada"
