"""A damaged database seen from Discord, on the fast tier's doubles: the server whose
collection is damaged (and DMs, whose shared default collection is damaged too) get the
one sentence, never the apology; the bot still starts, and another server still gets
answers."""

from __future__ import annotations

from collections.abc import Callable

from discordkit import collection_of, finished, is_one_sentence
from fakediscord import FakeDiscord
from fakediscord.articlebot import running_articlebot

from retrieval.engine import SAMPLE_NAME, Engine, sample_article_bytes

from .damage import FERRY_QUESTION, HARBOUR, OPEN_GATE, answering_llm, damage, store_file


async def test_a_member_in_a_damaged_server_gets_the_sentence_and_others_get_answers(
    fake_discord: FakeDiscord, fast_engine: Callable[..., Engine]
) -> None:
    fake = fake_discord
    broken, healthy = fake.add_guild("Broken"), fake.add_guild("Healthy")
    alice, bob = broken.add_member("alice"), healthy.add_member("bob")
    carol = fake.add_user("carol")
    engine = fast_engine(llm=answering_llm(), **OPEN_GATE, **{"discord.cooldown_s": 0})
    # The sample article: a database large enough that its middle holds the chunk table.
    engine.ingest_bytes(sample_article_bytes(), SAMPLE_NAME, collection=collection_of(broken))
    engine.ingest_bytes(HARBOUR, "harbour.txt", collection=collection_of(healthy))
    assert engine.list_articles()  # the default collection, with the sample
    engine.close()
    damage(store_file(engine.settings, collection_of(broken)))
    damage(store_file(engine.settings, "default"))  # the bot must start all the same

    async with running_articlebot(fake, engine.settings, engine):
        asked = await fake.slash(broken, alice, "ask", {"question": FERRY_QUESTION})
        reply = (await asked.wait_done(finished, timeout=30)).content
        assert is_one_sentence(reply), reply
        assert f"collection {collection_of(broken)} is damaged" in reply
        assert f"`articlebot restore {collection_of(broken)}`" in reply

        listing = await fake.slash(broken, alice, "articles")
        assert "is damaged" in (await listing.wait_done(timeout=10)).content

        answered = await fake.slash(healthy, bob, "ask", {"question": FERRY_QUESTION})
        content = (await answered.wait_done(finished, timeout=30)).content
        assert content.startswith("every hour") and "Harbour News" in content, content

        in_dm = await fake.slash(None, carol, "ask", {"question": FERRY_QUESTION})
        dm_reply = (await in_dm.wait_done(finished, timeout=30)).content
        assert is_one_sentence(dm_reply) and "collection default is damaged" in dm_reply
    fake.assert_no_unknown_routes()
