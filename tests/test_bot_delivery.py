"""Discord failing the bot while it answers, through the real discord.py client against the
loopback fake Discord, on the fast tier's doubles (seconds, no model load): the gateway
dropping mid-answer, 429s on streaming edits, 5xx past discord.py's own retries on the final
edit, an interaction token that is gone, and a question whose interaction would expire
while it waits in the queue."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
from typing import Any

import discord
import discord.http
import discord.webhook.async_
import pytest
from discordkit import ETNA_ANSWER, ETNA_QUESTION, SceneFactory, finished, is_one_sentence
from fakediscord import FakeDiscord, FakeInteraction
from fakes import QueuedLLM

from bot.discordbot.dispatch import QUEUE_TOO_LONG
from bot.discordbot.format import APOLOGY

ORIGINAL = r"^/webhooks/\d+/[^/]+/messages/@original$"
SLOW_ANSWER = " ".join([ETNA_ANSWER] * 2)  # long enough to stream several previews


class QuickSleep:
    """``asyncio`` as discord.py's HTTP modules see it, with their retry sleeps (1, 3, 5, 7,
    9 s after a 5xx) cut a hundredfold: the fault stays the same, the test takes seconds."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float, result: Any = None) -> Any:
        return await asyncio.sleep(delay / 100, result)


@pytest.fixture()
def quick_discord_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (discord.webhook.async_, discord.http):
        monkeypatch.setattr(module, "asyncio", QuickSleep())


def answer_edits(inter: FakeInteraction) -> list[str]:
    return [p["content"] for _, p in inter.edits if p.get("content", "").startswith("Catania")
            and "**Sources**" in p["content"]]


def channel_posts(fake: FakeDiscord, channel_id: int) -> list[dict[str, Any]]:
    """What the bot posted in the channel itself (not through the interaction)."""
    return fake.bot_messages(channel_id)


def requests_to(fake: FakeDiscord, method: str, path: str) -> list[Any]:
    return [r for r in fake.requests if r.method == method and re.search(path, r.path)]


async def test_a_gateway_dropped_mid_answer_resumes_and_the_answer_arrives_once(
    fast_discord_scene: SceneFactory,
) -> None:
    llm = QueuedLLM(default=lambda _: SLOW_ANSWER, token_pause_s=0.08)
    scene = fast_discord_scene("alice", llm=llm, **{
        "discord.cooldown_s": 0, "discord.edit_interval_s": 0.2,
        "answer.extract_fallback": False})
    fake, guild, [alice] = scene.fake, scene.guild, scene.members

    async with scene.running():
        for drop in ("closed", "reconnect requested"):
            inter = await fake.slash(guild, alice, "ask", {"question": ETNA_QUESTION})
            await inter.wait_done(lambda i: any(p["content"].endswith(" …")
                                                for _, p in i.edits), timeout=20)
            sessions = len(fake.sessions)
            if drop == "closed":  # the connection breaks (a close code the client resumes on)
                await fake.sessions[-1].ws.close(code=4000, message=b"Unknown error")
            else:  # Discord asks the client to reconnect (op 7)
                await fake.request_reconnect()
            final = await inter.wait_done(finished, timeout=20, settle=0.3)

            assert len(fake.sessions) == sessions + 1 and fake.sessions[-1].resumed, drop
            assert final.content.startswith(SLOW_ANSWER) and "**Sources**" in final.content
            assert len(answer_edits(inter)) == 1 and not inter.followups, inter.edits
            assert not inter.rejected
    assert len(fake.interactions) == 2 and not channel_posts(fake, guild.channel_id)
    fake.assert_no_unknown_routes()


async def test_streaming_edits_that_hit_429s_slow_down_and_the_answer_is_still_delivered(
    fast_discord_scene: SceneFactory,
) -> None:
    llm = QueuedLLM(default=lambda _: SLOW_ANSWER, token_pause_s=0.06)
    scene = fast_discord_scene("alice", llm=llm, **{
        "discord.cooldown_s": 0, "discord.edit_interval_s": 0.2,
        "answer.extract_fallback": False})
    fake, guild, [alice] = scene.fake, scene.guild, scene.members
    retry_after = 0.3

    async with scene.running():
        inter = await fake.slash(guild, alice, "ask", {"question": ETNA_QUESTION})
        await inter.wait_done(lambda i: bool(i.edits), timeout=20)
        # More 429s in a row than discord.py retries (5): one preview edit fails for good.
        fake.rate_limit("PATCH", ORIGINAL, retry_after=retry_after, count=7)
        final = await inter.wait_done(finished, timeout=30, settle=0.3)

    assert final.content.startswith(SLOW_ANSWER) and "**Sources**" in final.content
    assert final.content != APOLOGY and len(answer_edits(inter)) == 1
    patches = requests_to(fake, "PATCH", ORIGINAL)
    limited = [r for r in patches if r.status == 429]
    assert len(limited) == 7
    # Every request after a 429 waited at least what Discord asked for (generous: 90 %).
    for before, after in itertools.pairwise(patches):
        if before.status == 429:
            assert after.time - before.time >= retry_after * 0.9, (before, after)
    # The previews kept growing: what was shown after the burst is the latest text.
    shown = [p["content"].removesuffix(" …") for _, p in inter.edits]
    assert all(b.startswith(a) or "**Sources**" in b for a, b in itertools.pairwise(shown))


@pytest.mark.usefixtures("quick_discord_retries")
async def test_a_final_edit_failing_past_discords_retries_is_retried_until_it_lands(
    fast_discord_scene: SceneFactory,
) -> None:
    scene = fast_discord_scene("alice", **{"discord.cooldown_s": 0,
                                           "discord.interaction_lifetime_s": 30,
                                           "discord.queue_margin_s": 1})
    fake, guild, [alice] = scene.fake, scene.guild, scene.members

    async with scene.running():
        fake.fail("PATCH", ORIGINAL, status=503, count=7)  # discord.py gives up after 5
        inter = await fake.slash(guild, alice, "ask", {"question": ETNA_QUESTION})
        final = await inter.wait_done(finished, timeout=30)

    assert final.content.startswith(ETNA_ANSWER) and final.content != APOLOGY
    statuses = [r.status for r in requests_to(fake, "PATCH", ORIGINAL)]
    assert statuses == [503] * 7 + [200], statuses
    assert not channel_posts(fake, guild.channel_id)


@pytest.mark.usefixtures("quick_discord_retries")
async def test_a_final_edit_that_never_lands_is_posted_in_the_channel_for_the_member(
    fast_discord_scene: SceneFactory,
) -> None:
    scene = fast_discord_scene("alice", **{"discord.cooldown_s": 0,
                                           "discord.interaction_lifetime_s": 3,
                                           "discord.queue_margin_s": 1})
    fake, guild, [alice] = scene.fake, scene.guild, scene.members

    async with scene.running():
        fake.fail("PATCH", ORIGINAL, status=503, count=10_000)  # Discord is down for edits
        inter = await fake.slash(guild, alice, "ask", {"question": ETNA_QUESTION})
        post = await fake.wait_for_message(guild.channel_id, timeout=30)

    assert post["content"].startswith(f"{alice.mention} {ETNA_ANSWER}")
    assert "**Sources**" in post["content"]
    # Only the member who asked is pinged; nothing else the answer quotes could ping anyone.
    assert [int(u["id"]) for u in post["mentions"]] == [alice.id]
    assert post["mention_roles"] == [] and post["mention_everyone"] is False
    assert requests_to(fake, "PATCH", ORIGINAL)  # it was retried in place first
    assert all(APOLOGY not in p.get("content", "") for _, p in inter.edits)


async def test_an_answer_that_outlives_its_interaction_token_is_posted_in_the_channel(
    fast_discord_scene: SceneFactory,
) -> None:
    gate = threading.Event()
    llm = QueuedLLM(default=lambda _: (gate.wait(10), ETNA_ANSWER)[1])
    scene = fast_discord_scene("alice", llm=llm, **{"discord.cooldown_s": 0,
                                                    "discord.interaction_lifetime_s": 60,
                                                    "discord.queue_margin_s": 1})
    fake, guild, [alice] = scene.fake, scene.guild, scene.members
    fake.token_ttl = 1.0  # Discord forgets the token sooner than the bot expected

    async with scene.running():
        inter = await fake.slash(guild, alice, "ask", {"question": ETNA_QUESTION})
        await inter.wait_deferred()
        await asyncio.sleep(1.2)
        gate.set()
        post = await fake.wait_for_message(guild.channel_id, timeout=20)

    assert post["content"].startswith(f"{alice.mention} {ETNA_ANSWER}")
    assert [reason for _, reason, _ in inter.rejected] == ["token expired"]  # tried once


async def test_a_question_that_would_outlive_its_interaction_in_the_queue_is_dropped(
    fast_discord_scene: SceneFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    lifetime, margin = 3.0, 1.0
    scene = fast_discord_scene("alice", "bob", **{
        "discord.cooldown_s": 0, "discord.queue_size": 1,
        "discord.interaction_lifetime_s": lifetime, "discord.queue_margin_s": margin})
    fake, guild, [alice, bob] = scene.fake, scene.guild, scene.members
    fake.token_ttl = lifetime
    asked: list[str] = []
    real_ask = scene.engine.ask

    def ask(question: str, **kwargs: Any) -> Any:
        asked.append(question)
        return real_ask(question, **kwargs)

    monkeypatch.setattr(scene.engine, "ask", ask)

    async with scene.running() as bot:
        worker = bot.dispatcher.worker
        gate = threading.Event()
        worker.submit(lambda: gate.wait(30))  # a long answer ahead of everyone
        while worker.waiting:
            await asyncio.sleep(0.02)
        inter = await fake.slash(guild, alice, "ask", {"question": ETNA_QUESTION})
        await inter.wait_done(lambda i: bool(i.edits), timeout=10)
        assert inter.edits[0][1]["content"] == "⏳ 1 question is ahead of yours…"

        final = await inter.wait_done(lambda i: i.content == QUEUE_TOO_LONG, timeout=10)
        assert inter.edits[-1][0] - inter.dispatched_at < lifetime  # the token still worked
        assert worker.waiting == 0 and worker.expired == 1  # its slot is free again
        assert not inter.rejected and not final.followups
        # The freed slot takes the next question, answered once the long one is done.
        later = await fake.slash(guild, bob, "ask", {"question": ETNA_QUESTION})
        await later.wait_done(lambda i: bool(i.edits), timeout=10)
        gate.set()
        assert (await later.wait_done(finished, timeout=20)).content.startswith(ETNA_ANSWER)

    assert asked == [ETNA_QUESTION]  # the dropped question never reached the model
    assert is_one_sentence(QUEUE_TOO_LONG)


@pytest.mark.usefixtures("quick_discord_retries")
async def test_listings_and_mention_answers_are_retried_past_discords_retries_too(
    fast_discord_scene: SceneFactory,
) -> None:
    scene = fast_discord_scene("alice", **{"discord.cooldown_s": 0,
                                           "discord.interaction_lifetime_s": 30,
                                           "discord.queue_margin_s": 1})
    fake, guild, [alice] = scene.fake, scene.guild, scene.members

    async with scene.running():
        fake.fail("PATCH", ORIGINAL, status=503, count=6)
        listing = await fake.slash(guild, alice, "articles", {})
        assert "Volcano Watch" in (await listing.wait_done(finished, timeout=30)).content

        fake.fail("POST", r"^/channels/\d+/messages$", status=502, count=6)
        await fake.send_message(guild, alice, f"{fake.bot_user.mention} {ETNA_QUESTION}")
        reply = await fake.wait_for_message(
            None, lambda m: m["content"].startswith(ETNA_ANSWER), timeout=30)

    assert "**Sources**" in reply["content"]
    assert not any(APOLOGY in m["content"] for m in fake.bot_messages())
    assert not [i for i in fake.interactions if APOLOGY in i.text]
