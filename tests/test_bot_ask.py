"""End to end: the real discord.py client, started by ``articlebot run``'s code path
(``bot.discordbot.serve``), against the loopback fake Discord, with the real Engine and models.

/ask, streaming and its throttle, reply-chain and thread follow-ups, /summary, DMs, and
twenty questions at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import aiohttp
import pytest
from discordkit import DEMO_QUESTION, QUESTION, SAMPLE_TITLE, SceneFactory, finished
from fakediscord import FakeDiscord, FakeInteraction
from fakediscord.articlebot import running_articlebot

from retrieval.engine import Engine
from retrieval.types import Turn

Call = tuple[str, tuple[Turn, ...]]


def spy_on_ask(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Record (question, history) of every Engine.ask the bot makes."""
    calls: list[Call] = []
    real = engine.ask

    def ask(question: str, **kwargs: Any) -> Any:
        calls.append((question, tuple(kwargs.get("history", ()))))
        return real(question, **kwargs)

    monkeypatch.setattr(engine, "ask", ask)
    return calls


def final_message(message: dict[str, Any]) -> bool:
    text = message["content"]
    return bool(text) and not text.endswith("…") and not text.startswith("⏳")


def edit_gaps(inter: FakeInteraction) -> list[float]:
    return [b - a for (a, _), (b, _) in pairwise(inter.edits)]


async def test_ask_defers_streams_throttled_edits_and_cites_then_reply_follows_up(
    discord_scene: SceneFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    unused_tcp_port: int,
) -> None:
    # The default 1 s between edits; metrics served the way `articlebot run` serves them.
    scene = discord_scene("alice", **{"discord.cooldown_s": 0, "metrics.enabled": True,
                                      "metrics.port": unused_tcp_port})
    fake, guild, [alice] = scene.fake, scene.guild, scene.members
    interval = scene.engine.settings.discord.edit_interval_s
    calls = spy_on_ask(scene.engine, monkeypatch)
    caplog.set_level(logging.INFO, logger="articlebot.discord")

    async with scene.running():
        inter = await fake.slash(guild, alice, "ask", {"question": DEMO_QUESTION})
        assert await inter.wait_deferred(timeout=3) < 3
        assert inter.ack_type == 5 and not inter.ephemeral
        final = await inter.wait_done(finished, timeout=120)

        answer, _, sources = final.content.partition("\n\n**Sources**\n")
        assert "Switzerland" in answer
        assert re.match(rf"\[1\] \*{re.escape(SAMPLE_TITLE)}\*, paragraph \d+: “.*Switzerland",
                        sources)
        # Partial answers (if generation outlasts the first preview) then the final one,
        # never closer than the edit interval; /summary below shows the streaming itself.
        assert all(p["content"].endswith("…") for _, p in inter.edits[:-1])
        assert all(gap >= interval for gap in edit_gaps(inter)), edit_gaps(inter)
        first_edit = inter.edits[0][0] - inter.dispatched_at
        total = inter.edits[-1][0] - inter.dispatched_at
        print(f"\n/ask through the fake: first edit {first_edit:.2f} s, total {total:.2f} s")

        # A reply to the /ask answer is a follow-up: it carries the first turn.
        asked = await fake.send_message(guild, alice, "Who is meeting there?",
                                        reference=int(final.original["id"]))
        follow = await fake.wait_for_message(guild.channel_id, final_message, timeout=120)
        assert follow["message_reference"]["message_id"] == str(asked)  # a reply, in place
        assert not fake.created_threads
        # What the model makes of the history is the engine's business (test_engine); the
        # bot's is to pass the chain's earlier turn along.
        assert calls[-1][0] == "Who is meeting there?"
        assert [t.question for t in calls[-1][1]] == [DEMO_QUESTION]
        assert "Switzerland" in calls[-1][1][0].answer

        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{unused_tcp_port}"
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            # The answer is counted just after its message is delivered: wait for it.
            counted = 'articlebot_questions_total{abstained="false"} 2'
            for _ in range(50):
                async with http.get(f"{base}/metrics") as response:
                    metrics = await response.text()
                if counted in metrics:
                    break
                await asyncio.sleep(0.1)
        assert counted in metrics

    # One log line per question, with numbers, without the question or the token.
    lines = [r.getMessage() for r in caplog.records
             if r.name == "articlebot.discord" and r.getMessage().startswith(("ask ", "mention "))]
    assert len(lines) == 2
    assert re.match(rf"ask guild={guild.id} queued_ahead=0 wait_s=[\d.]+ first_edit_s=[\d.]+ "
                    r"total_s=[\d.]+ tokens=\d+ abstained=False", lines[0]), lines[0]
    assert all(DEMO_QUESTION not in line and "meeting there" not in line
               and fake.token not in line for line in lines)
    fake.assert_no_unknown_routes()


async def test_mention_starts_a_thread_whose_follow_ups_use_memory_and_summary_streams(
    discord_scene: SceneFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    scene = discord_scene("bob", **{"discord.edit_interval_s": 0.2, "discord.cooldown_s": 0})
    fake, guild, [bob] = scene.fake, scene.guild, scene.members
    calls = spy_on_ask(scene.engine, monkeypatch)

    async with scene.running():
        await fake.send_message(guild, bob, f"{fake.bot_user.mention} {QUESTION}")
        first = await fake.wait_for_message(None, final_message, timeout=120)
        thread = fake.created_threads[0]
        assert first["channel_id"] == str(thread.id) and thread.name == QUESTION
        assert "He Lifeng" in first["content"] and "**Sources**" in first["content"]
        assert calls[-1] == (QUESTION, ())

        # In the bot's thread no mention is needed, and the earlier turn comes along.
        await fake.send_message(guild, bob, "Where will he meet Scott Bessent?",
                                channel_id=thread.id)
        second = await fake.wait_for_message(
            thread.id, lambda m: m["id"] != first["id"] and final_message(m), timeout=120)
        assert "Switzerland" in second["content"].partition("\n\n")[0]
        question, history = calls[-1]
        assert question == "Where will he meet Scott Bessent?"
        assert [t.question for t in history] == [QUESTION]
        # Plain channel chatter is not a question.
        await fake.send_message(guild, bob, "lunch anyone?")
        await asyncio.sleep(0.5)
        assert len(calls) == 2

        # /summary answers in the response the same way (bullet by bullet while it takes
        # long enough to show previews), each bullet with its paragraph; then from the cache.
        inter = await fake.slash(guild, bob, "summary", {"length": "long"})
        assert await inter.wait_deferred(timeout=3) < 3
        final = await inter.wait_done(finished, timeout=180)
        assert final.content.startswith(f"**Summary of {SAMPLE_TITLE}**\n\n")
        bullets = final.content.partition("\n\n")[2].splitlines()
        assert 3 <= len(bullets) <= 6
        assert all(re.fullmatch(r"- .{20,} \*\(paragraph \d+\)\*", b) for b in bullets), bullets
        previews = [p["content"] for _, p in inter.edits[:-1]]
        assert all(p.endswith(" …") for p in previews), previews
        assert all(gap >= 0.2 for gap in edit_gaps(inter)), edit_gaps(inter)
        again = await fake.slash(guild, bob, "summary", {"length": "long"})
        cached = await again.wait_done(finished, timeout=30)
        assert "(cached)" in cached.content
        assert cached.content.partition("\n\n")[2] == final.content.partition("\n\n")[2]
    fake.assert_no_unknown_routes()


async def test_dms_use_the_shared_collection(
    fake_discord: FakeDiscord, make_engine: Callable[..., Engine]
) -> None:
    engine = make_engine(**{"discord.cooldown_s": 0})
    fake = fake_discord
    carol = fake.add_user("carol")
    async with running_articlebot(fake, engine.settings, engine):
        inter = await fake.slash(None, carol, "ask", {"question": QUESTION})
        await inter.wait_deferred(timeout=3)
        assert "He Lifeng" in (await inter.wait_done(finished, timeout=120)).content
        await fake.send_message(None, carol, QUESTION)  # no mention needed in a DM
        reply = await fake.wait_for_message(fake.dm_channel(carol), final_message, timeout=120)
        assert "He Lifeng" in reply["content"] and "**Sources**" in reply["content"]
        listing = await fake.slash(None, carol, "articles")
        assert SAMPLE_TITLE in (await listing.wait_done(timeout=10)).content
    fake.assert_no_unknown_routes()


async def test_twenty_concurrent_questions_are_all_acknowledged_and_answered(
    discord_scene: SceneFactory,
) -> None:
    scene = discord_scene(*(f"user{i}" for i in range(20)),
                          **{"discord.cooldown_s": 0, "discord.queue_size": 32})
    fake, guild, users = scene.fake, scene.guild, scene.members
    async with scene.running():
        inters = await asyncio.gather(
            *(fake.slash(guild, u, "ask", {"question": QUESTION}) for u in users))
        latencies = await asyncio.gather(*(i.wait_deferred(timeout=3) for i in inters))
        assert max(latencies) < 3
        results = await asyncio.gather(*(i.wait_done(finished, timeout=300) for i in inters))
        assert all("He Lifeng" in r.content and "**Sources**" in r.content for r in results)
        # Those that waited were told how many questions were ahead of theirs.
        queued = [i for i in inters if i.edits[0][1]["content"].startswith("⏳")]
        assert len(queued) >= 10
        assert all(not i.rejected for i in inters)
    fake.assert_no_unknown_routes()
