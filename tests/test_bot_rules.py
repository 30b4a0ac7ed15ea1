"""End to end: the rules the bot keeps whatever the articles and the users do — nobody is
pinged, long replies are split at 2,000 characters, cooldowns and a full queue get a private
sentence instead of silence."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

from discordkit import QUESTION, SceneFactory, finished
from fakediscord.articlebot import sent_messages


async def test_mentions_in_articles_and_questions_ping_nobody(
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene("ada", "bob", admins={"ada"}, sample=False, guild="Harbour",
                          **{"discord.cooldown_s": 0})
    fake, guild, [admin, bob] = scene.fake, scene.guild, scene.members
    crew = guild.add_role("Crew")
    article = (f"Harbour Notice\n\n@everyone The ferry to Skye now leaves Mallaig every hour, "
               f"the harbour master told {crew.mention} and {bob.mention} on Monday.\n\n"
               f"@here Ticket prices for the ferry rise to nine pounds in June.\n").encode()

    async with scene.running():
        upload = await fake.slash(guild, admin, "upload", {
            "file": fake.attachment(article, "notice.txt", "text/plain"),
            "title": "Notice for @everyone"})
        await upload.wait_done(finished, timeout=30)
        listing = await fake.slash(guild, bob, "articles")
        search = await fake.slash(guild, bob, "search", {"query": "ferry to Skye @everyone"})
        ask = await fake.slash(guild, bob, "ask",
                               {"question": "@here how often does the ferry to Skye leave?"})
        for inter in (listing, search, ask):
            await inter.wait_done(finished, timeout=120)
        await fake.send_message(guild, bob,
                                f"{fake.bot_user.mention} @everyone when do ticket prices rise?")
        await fake.wait_for_message(None, lambda m: "Sources" in m["content"] or
                                    "cover" in m["content"], timeout=120)

    sent = sent_messages(fake)
    everything = " ".join(payload["content"] for _, _, payload in sent)
    assert "@everyone" in everything and crew.mention in everything and bob.mention in everything
    for method, path, payload in sent:
        assert payload.get("allowed_mentions", {}).get("parse") == [], (method, path, payload)
        assert not payload["allowed_mentions"].get("replied_user")
    channels = [guild.channel_id, *(t.id for t in fake.created_threads)]
    messages = [m for c in channels for m in fake.channel_messages(c, include_interactions=True)]
    messages += [m for inter in fake.interactions for m in inter.messages]
    assert len(messages) >= 5
    for m in messages:
        assert m["mention_everyone"] is False and m["mentions"] == [] and m["mention_roles"] == []


def long_article() -> bytes:
    paragraphs = [
        f"On day {n} of the harbour inquiry, witness number {n} described how the pier lights "
        f"failed on the night of the storm. The committee asked why spare bulbs were kept in "
        f"a locked shed {n} miles away. Engineers said the wiring dated from {1950 + n} and "
        f"had never been replaced. The chair noted that the inquiry would publish its findings "
        f"after hearing from all {20 + n} witnesses, and thanked the harbour staff for their "
        f"patience during a difficult week."
        for n in range(1, 13)
    ]
    return ("Harbour Inquiry\n\n" + "\n\n".join(paragraphs) + "\n").encode()


async def test_long_replies_are_split_at_2000_characters_between_passages(
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene("bob", sample=False, guild="Harbour")
    # Strict: a message over 2,000 characters would be a 400 error.
    fake, guild, [bob] = scene.fake, scene.guild, scene.members
    scene.engine.ingest_bytes(long_article(), "inquiry.txt", collection=scene.collection)
    async with scene.running():
        inter = await fake.slash(guild, bob, "search",
                                 {"query": "harbour inquiry pier lights witness", "count": 10})
        await inter.wait_done(lambda i: len(i.followups) >= 2, timeout=60, settle=0.5)
    parts = [m["content"] for m in inter.messages]
    assert len(parts) >= 3 and all(len(p) <= 2000 for p in parts), [len(p) for p in parts]
    assert not inter.rejected
    numbers = [int(n) for p in parts for n in re.findall(r"^\*\*(\d+)\.\*\*", p, re.M)]
    assert numbers == list(range(1, 11))
    for part in parts:  # every passage (header + quoted text) is whole in one message
        for block in part.split("\n\n")[1 if part.startswith("**Top") else 0:]:
            header, quote = block.split("\n")
            assert re.match(r"\*\*\d+\.\*\* \*Harbour Inquiry\*, paragraph \d+ — score", header)
            assert quote.startswith("> On day ") and quote.endswith("week.")


async def test_cooldown_full_queue_and_long_questions_get_one_private_sentence(
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene("alice", "bob", "carol", "dave", guild="Busy",
                          **{"discord.cooldown_s": 60, "discord.queue_size": 1})
    fake, guild, [alice, bob, carol, dave] = scene.fake, scene.guild, scene.members

    async with scene.running() as bot:
        first = await fake.slash(guild, alice, "ask", {"question": QUESTION})
        assert "He Lifeng" in (await first.wait_done(finished, timeout=120)).content

        again = await fake.slash(guild, alice, "ask", {"question": QUESTION})
        text = (await again.wait_done(timeout=10)).content
        assert re.fullmatch(r"Please wait \d+ s before asking again\.", text), text
        assert again.ack_type == 4 and again.ephemeral
        asked = await fake.send_message(guild, alice, f"{fake.bot_user.mention} {QUESTION}")
        reply = await fake.wait_for_message(
            guild.channel_id, lambda m: m.get("message_reference", {}).get("message_id")
            == str(asked), timeout=10)
        assert reply["content"].startswith("Please wait ") and not fake.created_threads

        # Hold the model with a job of our own, so the one queue slot fills deterministically.
        gate = threading.Event()
        bot.dispatcher.worker.submit(lambda: gate.wait(60))
        while bot.dispatcher.worker.pending != 1 or bot.dispatcher.worker.waiting:
            await asyncio.sleep(0.05)
        waiting = await fake.slash(guild, bob, "ask", {"question": QUESTION})
        await waiting.wait_done(lambda i: bool(i.edits), timeout=10)
        assert waiting.edits[0][1]["content"] == "⏳ 1 question is ahead of yours…"
        busy = await fake.slash(guild, carol, "ask", {"question": QUESTION})
        assert (await busy.wait_done(timeout=10)).content == (
            "I'm busy answering other questions; try again in a moment.")
        assert busy.ack_type == 4 and busy.ephemeral
        await fake.send_message(guild, dave, f"{fake.bot_user.mention} {QUESTION}")
        reply = await fake.wait_for_message(guild.channel_id,
                                            lambda m: m["content"].startswith("I'm busy"))
        gate.set()
        assert "He Lifeng" in (await waiting.wait_done(finished, timeout=120)).content

        long = await fake.slash(guild, carol, "ask", {"question": "why " * 251})
        assert (await long.wait_done(timeout=10)).content == (
            "Questions are limited to 1000 characters; yours has 1003.")
        assert long.ephemeral
        empty_mention = await fake.send_message(guild, dave, fake.bot_user.mention)
        hint: dict[str, Any] = await fake.wait_for_message(
            guild.channel_id, lambda m: m.get("message_reference", {}).get("message_id")
            == str(empty_mention))
        assert hint["content"].startswith("Ask me a question about the articles")
    fake.assert_no_unknown_routes()
