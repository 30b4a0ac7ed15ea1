"""``articlebot run``: the token, command sync, sharding, logging and a clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from discordkit import SceneFactory
from fakediscord import MANAGE_GUILD, FakeDiscord
from fakediscord.articlebot import running_articlebot
from fakediscord.payloads import INTENT_MESSAGE_CONTENT

from bot.cli import cli
from bot.discordbot.serve import StartupError, serve
from config import Settings
from retrieval.engine import Engine


def run_cli(data_dir: Path, token: str | None) -> Any:
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), "run"],
                              env={"DISCORD_TOKEN": token})


@pytest.mark.parametrize("token", [None, "  "])
def test_a_missing_token_is_one_sentence_and_exit_1(
    make_settings: Callable[..., Settings], token: str | None
) -> None:
    result = run_cli(make_settings().data_dir, token)
    assert result.exit_code == 1
    assert result.stderr == ("Error: DISCORD_TOKEN is not set: export the bot token from the "
                             "Discord Developer Portal (see the README, Discord).\n")


async def test_a_rejected_token_is_one_sentence_and_exit_1_through_the_cli(
    fake_discord: FakeDiscord, make_settings: Callable[..., Settings]
) -> None:
    data_dir = make_settings().data_dir
    root = logging.getLogger()
    level = root.level
    try:  # the CLI runs its own event loop: give it a thread, the fake keeps this one
        result = await asyncio.to_thread(run_cli, data_dir, "not-the-token")
    finally:
        root.setLevel(level)
    assert result.exit_code == 1, result.output
    assert result.stderr == ("Error: Discord rejected the token in DISCORD_TOKEN; copy the bot "
                             "token again from the Developer Portal (Bot → Reset Token).\n")
    assert "not-the-token" not in result.output
    assert fake_discord.find_requests("GET", r"^/users/@me$")[0].status == 401


async def test_dev_guild_sync_and_debug_logs_never_show_the_token(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs"
    engine = make_engine()
    caplog.set_level(logging.DEBUG)
    async with FakeDiscord(token=token) as fake:
        fake.install(monkeypatch)
        guild = fake.add_guild("Dev")
        bob = guild.add_member("bob")
        monkeypatch.setenv("ARTICLEBOT_DEV_GUILD", str(guild.id))
        async with running_articlebot(fake, engine.settings, engine):
            assert None not in fake.registered_commands
            commands = {c["name"]: c for c in fake.registered_commands[guild.id]}
            assert set(commands) == {"ask", "summary", "articles", "search", "upload", "remove",
                                     "insight"}
            # Admin commands: hidden from members without Manage Server, never in DMs.
            for name in ("upload", "remove", "insight"):
                assert int(commands[name]["default_member_permissions"]) == MANAGE_GUILD
                assert commands[name]["contexts"] == [0]
            assert commands["ask"]["default_member_permissions"] is None
            inter = await fake.slash(guild, bob, "articles")
            assert (await inter.wait_done(timeout=10)).content.startswith("No articles")
        fake.assert_no_unknown_routes()
    assert fake.identify is not None and fake.identify["token"] == token  # it was used...
    assert token not in caplog.text  # ...and never logged, even at DEBUG

    monkeypatch.setenv("ARTICLEBOT_DEV_GUILD", "my-server")
    with pytest.raises(StartupError, match=r"^ARTICLEBOT_DEV_GUILD must be a server id"):
        await serve(engine.settings, engine, token=token)


async def test_a_refused_message_content_intent_is_one_sentence(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine()
    async with FakeDiscord(refused_intents=INTENT_MESSAGE_CONTENT) as fake:
        fake.install(monkeypatch)
        with pytest.raises(StartupError) as error:
            await asyncio.wait_for(serve(engine.settings, engine, token=fake.token), 120)
    assert str(error.value) == ("Discord refused the Message Content intent: enable it in the "
                                "Developer Portal (Bot → Privileged Gateway Intents).")


async def test_an_unreachable_discord_is_one_sentence(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    import discord.http

    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")
    engine = make_engine()
    with pytest.raises(StartupError, match=r"^Could not log in to Discord \(.+\)\.$"):
        await serve(engine.settings, engine, token="some-token")


async def test_sharded_client_serves_guilds_on_every_shard(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(**{"discord.shard_count": 2})
    async with FakeDiscord(shard_count=2) as fake:
        fake.install(monkeypatch)
        guilds = [fake.add_guild(f"G{i}") for i in range(2)]
        users = [g.add_member(f"user{i}") for i, g in enumerate(guilds)]
        async with running_articlebot(fake, engine.settings, engine) as bot:
            assert bot.shard_count == 2 and len(fake.sessions) == 2
            for guild, user in zip(guilds, users):
                inter = await fake.slash(guild, user, "articles")
                assert (await inter.wait_done(timeout=10)).content.startswith("No articles")
        fake.assert_no_unknown_routes()


async def test_sigterm_delivers_the_running_answer_then_closes_client_and_engine(
    discord_scene: SceneFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert threading.current_thread() is threading.main_thread()
    scene = discord_scene("bob", guild="G")
    fake, guild, [bob], engine = scene.fake, scene.guild, scene.members, scene.engine
    events: list[str] = []
    asking = threading.Event()
    real_ask, real_close = engine.ask, engine.close

    def ask(question: str, **kwargs: Any) -> Any:
        asking.set()
        result = real_ask(question, **kwargs)
        events.append("answered")
        return result

    def close() -> None:
        events.append("engine closed")
        real_close()

    monkeypatch.setattr(engine, "ask", ask)
    monkeypatch.setattr(engine, "close", close)
    clients: list[Any] = []
    task = asyncio.create_task(serve(engine.settings, engine, token=fake.token,
                                     client_options={"guild_ready_timeout": 0.05},
                                     on_client=clients.append))
    await fake.wait_ready(timeout=180)
    await clients[0].wait_until_ready()
    inter = await fake.slash(guild, bob, "ask",
                             {"question": "Who is China's lead trade negotiator?"})
    await asyncio.to_thread(asking.wait, 60)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 60)  # returns normally: SIGTERM is a clean stop
    assert events == ["answered", "engine closed"]
    assert "He Lifeng" in inter.content and "**Sources**" in inter.content  # delivered first
    assert clients[0].is_closed()
    assert all(session.closed for session in fake.sessions)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
