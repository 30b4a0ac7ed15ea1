"""The language model failing in the middle of an answer, seen from Discord: the message that
was streaming ends with a short error, and the questions queued behind it are answered."""

from __future__ import annotations

import logging
import threading

import pytest
from discordkit import (
    QUESTION,
    SAMPLE_TITLE,
    SceneFactory,
    assert_nobody_pinged,
    finished,
    is_one_sentence,
)
from fakediscord import FakeInteraction
from fakes import QueuedLLM

from bot.discordbot.format import APOLOGY
from retrieval.errors import ModelError

BROKE_OFF_INSIDE = "The model server at http://gpu-box:8000/v1 broke off mid-answer."
BROKE_OFF = "The model server broke off mid-answer."  # members never see its address


def previews(inter: FakeInteraction) -> list[str]:
    return [p["content"] for _, p in inter.edits if p["content"].endswith(" …")]


async def test_a_model_failing_mid_answer_ends_that_message_and_the_queue_keeps_serving(
    discord_scene: SceneFactory, caplog: pytest.LogCaptureFixture,
) -> None:
    # Summaries ask the model to shorten every sentence here, so a summary meets the fault too.
    # The real model, except that queued failures stream "He Li", pause long enough for the
    # bot to show it, then raise (one per call).
    scene = discord_scene(
        "alice", "bob", "carol", "dave",
        wrap_llm=lambda real: QueuedLLM(real=real, partial="He Li", pause_s=0.8),
        **{"discord.cooldown_s": 0, "discord.edit_interval_s": 0.2,
           "summary.compress": "on", "summary.compress_min_words": 1,
           # Answers stream live (no held-back fallback check), so the
           # failure meets an answer that is already showing; the model writes them (the
           # trained reader would answer without it).
           "answer.extract_fallback": False, "reader.model": "off"})
    fake, guild, [alice, bob, carol, dave] = scene.fake, scene.guild, scene.members
    flaky = scene.engine.llm
    assert isinstance(flaky, QueuedLLM)
    caplog.set_level(logging.INFO, logger="articlebot.discord")

    async with scene.running() as bot:
        # Hold the worker so that three questions queue up in a known order behind it.
        gate = threading.Event()
        bot.dispatcher.worker.submit(lambda: gate.wait(60))
        flaky.push(ModelError(BROKE_OFF_INSIDE), RuntimeError("CUDA error: illegal memory access"))
        inters = []
        for user in (alice, bob, carol):
            inter = await fake.slash(guild, user, "ask", {"question": QUESTION})
            assert await inter.wait_deferred(timeout=3) < 3
            inters.append(inter)
        gate.set()
        first, second, third = [await i.wait_done(finished, timeout=120) for i in inters]

        # The known failure: its own sentence replaces the partial answer.
        assert previews(inters[0]) == ["He Li …"], inters[0].edits
        assert first.content == BROKE_OFF and not inters[0].ephemeral
        # The unexpected one: the apology, never the exception's text.
        assert previews(inters[1]) == ["He Li …"], inters[1].edits
        assert second.content == APOLOGY
        # The one queued behind both is answered normally.
        assert inters[2].edits[0][1]["content"] == "⏳ 3 questions are ahead of yours…"
        assert "He Lifeng" in third.content and SAMPLE_TITLE in third.content

        # A failing answer to a mention ends the same way, in its thread; then the next
        # question (same user) and a summary are served.
        flaky.push(ModelError(BROKE_OFF_INSIDE))
        await fake.send_message(guild, dave, f"{fake.bot_user.mention} {QUESTION}")
        reply = await fake.wait_for_message(None, lambda m: m["content"] == BROKE_OFF,
                                            timeout=60)
        assert reply["edit_history"], reply  # it had shown the partial answer first
        again = await fake.slash(guild, alice, "ask", {"question": QUESTION})
        assert "He Lifeng" in (await again.wait_done(finished, timeout=120)).content
        flaky.push(ModelError(BROKE_OFF_INSIDE))
        summary = await fake.slash(guild, bob, "summary", {})
        assert (await summary.wait_done(finished, timeout=120)).content == BROKE_OFF
        summary = await fake.slash(guild, bob, "summary", {})
        text = (await summary.wait_done(finished, timeout=180)).content
        assert text.startswith(f"**Summary of {SAMPLE_TITLE}**") and "(cached)" not in text

    assert is_one_sentence(BROKE_OFF) and not flaky.queue
    # The unexpected failure was logged with its context and traceback.
    [record] = [r for r in caplog.records if r.getMessage().startswith("unexpected error")]
    assert f"/ask guild={guild.id}" in record.getMessage() and record.exc_info
    assert "CUDA error" in str(record.exc_info[1])
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ask guild=")]
    assert len(lines) == 4 and sum("tokens=2 " in line for line in lines) == 2, lines
    assert_nobody_pinged(fake)
    fake.assert_no_unknown_routes()
