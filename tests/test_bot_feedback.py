"""End to end on the loopback fake Discord and the test doubles: 👍/👎 under answers, the 👎
reason, votes across a restart, /insight for admins only and per server, the log switch.
The CLI's view of the same log is at the end."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner
from discordkit import QUESTION, add_sample, is_one_sentence, reply_of
from fakediscord import FakeDiscord, FakeInteraction
from fakediscord.articlebot import running_articlebot
from fakes import HashingEmbedder, QueuedLLM

from bot.cli import cli
from bot.context import Context
from bot.insight_text import NOTHING_UNANSWERED
from retrieval.engine import Engine

REASON = "It is in paragraph 4: He Lifeng"
OFF_TOPIC = "What is the boiling point of mercury?"
REFUSED = "Only members with the Manage Server permission can do that."


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    """The emoji → custom id of the buttons under a message."""
    return {c["emoji"]["name"]: c["custom_id"] for row in message.get("components") or []
            for c in row.get("components") or []}


def _has_buttons(inter: FakeInteraction) -> bool:
    return bool(inter.original and _buttons(inter.original))


async def _private(inter: FakeInteraction) -> str:
    text = await reply_of(inter, timeout=30)
    assert inter.ephemeral, (inter, text)
    return text


@pytest.fixture()
def engine(fast_engine: Callable[..., Engine]) -> Engine:
    return fast_engine(llm=QueuedLLM(default=lambda prompt: "He Lifeng"),
                       **{"discord.cooldown_s": 0})


async def test_feedback_down_with_reason_then_up_after_restart_shows_in_unanswered_and_stats(
    fake_discord: FakeDiscord, engine: Engine
) -> None:
    fake = fake_discord
    home = fake.add_guild("Home")
    ada, bob, cat = (home.add_member(n, admin=n == "ada") for n in ("ada", "bob", "cat"))
    other = fake.add_guild("Elsewhere")
    olga = other.add_member("olga", admin=True)
    add_sample(engine, home)
    add_sample(engine, other)

    async with running_articlebot(fake, engine.settings, engine):
        ask = await fake.slash(home, bob, "ask", {"question": QUESTION})
        await ask.wait_done(_has_buttons, timeout=30)
        answer_id = int(ask.original["id"])  # type: ignore[index]
        buttons = _buttons(ask.original)  # type: ignore[arg-type]
        assert set(buttons) == {"👍", "👎"}
        down = await fake.component(home, bob, answer_id, buttons["👎"])
        await down.wait_ack()
        assert down.ack_type == 9 and down.modal is not None  # the reason form
        submit = await fake.modal_submit(home, bob, down.modal, {
            down.modal["components"][0]["components"][0]["custom_id"]: REASON})
        assert await _private(submit) == "Thanks: your 👎 and its reason are recorded."

    async with running_articlebot(fake, engine.settings, engine) as bot:  # restarted
        up = await fake.component(home, cat, answer_id, buttons["👍"])
        assert await _private(up) == "Thanks: your 👍 is recorded."
        again = await fake.component(home, cat, answer_id, buttons["👍"])
        assert await _private(again) == "You already gave this answer a 👍."

        unanswered = await _private(await fake.slash(home, ada, "insight unanswered"))
        assert unanswered.splitlines() == [
            "Unanswered questions (abstained or 👎), most asked first:",
            unanswered.splitlines()[1], f"   👎 “{REASON}”"]
        assert unanswered.splitlines()[1].startswith(
            "1. “Who is China's lead trade negotiator?” — asked once (1 👎), last ")
        stats = await _private(await fake.slash(home, ada, "insight stats"))
        assert "Last 7 days: 1 question, 100% answered, 👍 1 / 👎 1" in stats
        assert "Last 30 days: 1 question," in stats

        # A member cannot open /insight; another server's admin sees nothing of this log.
        refused = await fake.slash(home, bob, "insight unanswered")
        assert await _private(refused) == REFUSED and refused.ack_type == 4
        assert await _private(await fake.slash(other, olga, "insight unanswered")) == \
            NOTHING_UNANSWERED
        elsewhere = await _private(await fake.slash(other, olga, "insight stats"))
        assert "Last 7 days: 0 questions" in elsewhere
        # Her server's buttons cannot reach this server's entry either.
        foreign = await fake.component(other, olga, answer_id, buttons["👎"])
        assert "no longer in this server's question log" in await _private(foreign)

        export = await fake.slash(home, ada, "insight export")
        await _private(export)
        assert export.original and export.original["attachments"]
        assert engine.feedback.count(f"guild-{home.id}") == 1

        # Prometheus: this process counted cat's 👍, with no server in any label.
        metrics = bot.dispatcher.metrics.render()
        assert 'articlebot_votes_total{vote="up"} 1' in metrics
        assert 'articlebot_votes_total{vote="down"} 0' in metrics
        assert str(home.id) not in metrics and "guild" not in metrics

        # 31 days on, the retention purge (30 days) has removed the entry and its votes.
        later = datetime.now(timezone.utc) + timedelta(days=31)
        engine.feedback.clock = lambda: later
        assert await _private(await fake.slash(home, ada, "insight unanswered")) == \
            NOTHING_UNANSWERED
        assert "Last 30 days: 0 questions" in await _private(
            await fake.slash(home, ada, "insight stats"))
        assert engine.feedback.count(f"guild-{home.id}") == 0


async def test_feedback_log_off_stores_nothing_and_shows_no_buttons(
    fake_discord: FakeDiscord, engine: Engine
) -> None:
    fake = fake_discord
    home = fake.add_guild("Home")
    ada, bob = home.add_member("ada", admin=True), home.add_member("bob")
    add_sample(engine, home)
    collection = f"guild-{home.id}"
    async with running_articlebot(fake, engine.settings, engine):
        refused = await fake.slash(home, bob, "insight log off")
        assert await _private(refused) == REFUSED
        off = await _private(await fake.slash(home, ada, "insight log off"))
        assert off.startswith("The question log is off for this server")
        ask = await fake.slash(home, bob, "ask", {"question": QUESTION})
        await reply_of(ask, timeout=30)
        # A mention starts a thread; its answer has no buttons either.
        await fake.send_message(home, bob, f"<@{fake.bot_user.id}> {OFF_TOPIC}")
        threaded = await fake.wait_for_message(predicate=lambda m: "cover" in m["content"],
                                               timeout=30)
        assert engine.feedback.count(collection) == 0
        assert not _buttons(ask.original or {}) and not _buttons(threaded)

        assert (await _private(await fake.slash(home, ada, "insight log on"))).startswith(
            "The question log is on")
        await fake.send_message(home, bob, f"<@{fake.bot_user.id}> {OFF_TOPIC}")
        buttoned = await fake.wait_for_message(predicate=lambda m: bool(_buttons(m)),
                                               timeout=30)
        assert "cover" in buttoned["content"]
        assert engine.feedback.count(collection) == 1
        forget = await _private(await fake.slash(home, ada, "insight forget"))
        assert forget == "Erased 1 logged question and their votes."
        assert is_one_sentence(forget) and engine.feedback.count(collection) == 0
        # A vote on an answer whose entry was erased (or expired) is told so, privately.
        gone = await fake.component(home, bob, int(buttoned["id"]), _buttons(buttoned)["👍"])
        assert "no longer in this server's question log" in await _private(gone)


def test_unanswered_and_stats_from_the_cli_list_abstained_questions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """``ARTICLEBOT_LOG__CLI=true``: ``articlebot unanswered --json`` lists the questions the
    bot abstained on, not the answered ones; ``articlebot stats --json`` counts both."""
    monkeypatch.setenv("ARTICLEBOT_LOG__CLI", "true")
    monkeypatch.setenv("ARTICLEBOT_READER__MODEL", "off")

    def fast(self: Context) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.settings, embedder=HashingEmbedder(),
                                  llm=QueuedLLM(default=lambda prompt: "He Lifeng"))
        return self._engine

    monkeypatch.setattr(Context, "engine", property(fast))
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--data-dir", str(tmp_path), *args])
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    answered = json.loads(run("ask", QUESTION, "--json"))
    abstained = json.loads(run("ask", OFF_TOPIC, "--json"))
    assert not answered["abstained"] and abstained["abstained"]
    groups = json.loads(run("unanswered", "--json"))
    assert [(g["question"], g["count"]) for g in groups] == [(OFF_TOPIC, 1)]
    stats = json.loads(run("stats", "--json"))
    week = stats["periods"][0]
    assert stats["logging"] and (week["days"], week["questions"], week["answered"]) == (7, 2, 1)
    assert run("export").splitlines()[0].startswith("id,asked_at,source,question")


async def test_feedback_reason_sent_after_a_restart_on_an_abstention_in_a_thread_is_kept(
    fake_discord: FakeDiscord, engine: Engine
) -> None:
    """The 👎 form is routed by its custom id: typed while the bot restarts, it still lands.
    An abstention answered in a thread has the buttons too."""
    fake = fake_discord
    home = fake.add_guild("Home")
    ada, bob = home.add_member("ada", admin=True), home.add_member("bob")
    add_sample(engine, home)
    async with running_articlebot(fake, engine.settings, engine):
        await fake.send_message(home, bob, f"<@{fake.bot_user.id}> {OFF_TOPIC}")
        answer = await fake.wait_for_message(predicate=lambda m: bool(_buttons(m)), timeout=30)
        assert "cover" in answer["content"]
        down = await fake.component(home, bob, int(answer["id"]), _buttons(answer)["👎"])
        await down.wait_ack()
        assert down.ack_type == 9 and down.modal is not None
    async with running_articlebot(fake, engine.settings, engine):
        submit = await fake.modal_submit(home, bob, down.modal, {"reason": "Add the BBC piece"})
        assert await _private(submit) == "Thanks: your 👎 and its reason are recorded."
        unanswered = await _private(await fake.slash(home, ada, "insight unanswered"))
        assert f"“{OFF_TOPIC}” — asked once (1 abstained, 1 👎)" in unanswered
        assert "👎 “Add the BBC piece”" in unanswered
