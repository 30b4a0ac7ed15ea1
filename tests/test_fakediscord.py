"""Smoke tests for the loopback fake Discord (tests/fakediscord) with a real discord.py bot.

The bot here is a minimal one defined in the test, not the project's bot.
"""

from __future__ import annotations

import asyncio
import hashlib

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from fakediscord import FakeDiscord

ARTICLES = ["trade talks", "tariff timeline", "election results"]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def make_bot(guild_id: int) -> commands.Bot:
    intents = discord.Intents.default()
    intents.message_content = True
    bot = commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=intents,
        guild_ready_timeout=0.05,
        chunk_guilds_at_startup=False,
    )

    @bot.tree.command(description="Defer, then edit the original response twice.")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        admin = interaction.permissions.manage_guild
        await interaction.edit_original_response(content="pong 1")
        await asyncio.sleep(0.05)
        await interaction.edit_original_response(content=f"pong 2 admin={admin}")

    @bot.tree.command(description="Read an uploaded file.", guild=discord.Object(guild_id))
    @app_commands.describe(file="any file")
    async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
        data = await file.read()
        await interaction.response.send_message(f"{file.filename} {len(data)} {_digest(data)}")

    @bot.tree.command(description="Pick an article.")
    async def pick(interaction: discord.Interaction, article: str) -> None:
        await interaction.response.send_message(f"picked {article}")

    @pick.autocomplete("article")
    async def pick_article(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=a, value=a) for a in ARTICLES if a.startswith(current)]

    @bot.tree.command(description="Ephemeral defer plus follow-ups.")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("s1", ephemeral=True)
        await interaction.followup.send("s2", ephemeral=True)

    @bot.tree.command(description="Too slow to acknowledge.")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.5)
        with pytest.raises(discord.NotFound):
            await interaction.response.send_message("late")

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        if message.guild is None:
            await message.channel.send(f"dm: {message.content}")
            return
        assert bot.user is not None
        if bot.user not in message.mentions:
            return
        if "thread" in message.content and not isinstance(message.channel, discord.Thread):
            thread = await message.create_thread(name="Follow-up")
            await thread.send("in thread")
            return
        await message.reply(
            f"hi {message.author.mention}", allowed_mentions=discord.AllowedMentions.none()
        )

    async def setup_hook() -> None:
        await bot.tree.sync()
        await bot.tree.sync(guild=discord.Object(guild_id))

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    return bot


async def test_slash_defer_edits_attachment_mentions_heartbeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeDiscord(heartbeat_interval_ms=200) as fake:
        fake.install(monkeypatch)
        guild = fake.add_guild(name="G1")
        alice = guild.add_member("alice", admin=True)
        bob = guild.add_member("bob")
        bot = make_bot(guild.id)
        async with fake.running(bot):
            assert {c["name"] for c in fake.registered_commands[None]} == {
                "ping",
                "pick",
                "secret",
                "slow",
            }
            assert [c["name"] for c in fake.registered_commands[guild.id]] == ["upload"]
            assert fake.identify is not None and fake.identify["token"] == "fake-token"

            # /ping: defer within 3 s, then two edits of @original.
            inter = await fake.slash(guild, alice, "ping")
            assert await inter.wait_deferred(timeout=3) < 3
            assert inter.ack_type == 5 and not inter.ephemeral
            final = await inter.wait_done(lambda i: i.content.startswith("pong 2"), timeout=5)
            assert final.content == "pong 2 admin=True"
            assert [p["content"] for _, p in inter.edits] == ["pong 1", "pong 2 admin=True"]
            assert inter.edits[0][0] <= inter.edits[1][0]
            bob_ping = await fake.slash(guild, bob, "ping")
            assert (await bob_ping.wait_done(lambda i: "pong 2" in i.content)).content.endswith(
                "admin=False"
            )

            # Attachment option: resolved attachment, bytes fetched from the fake CDN.
            data = b"Officials met in Geneva. " * 40
            att = fake.attachment(data, "article.txt", "text/plain")
            up = await fake.slash(guild, bob, "upload", {"file": att})
            done = await up.wait_done(timeout=5)
            assert done.content == f"article.txt {len(data)} {_digest(data)}"
            assert any(att.url.endswith(path) for _, path in fake.cdn_fetches)
            option = up.payload["data"]["options"][0]
            assert option["type"] == 11 and up.payload["data"]["guild_id"] == str(guild.id)

            # Autocomplete (type 4 -> callback type 8).
            choices = await fake.autocomplete(
                guild, bob, "pick", {"article": "t"}, focused="article"
            )
            assert [c["value"] for c in choices] == ["trade talks", "tariff timeline"]

            # Mention -> reply; allowed_mentions as sent, nobody actually pinged.
            mid = await fake.send_message(guild, bob, f"{fake.bot_user.mention} hello?")
            reply = await fake.wait_for_message(guild.channel_id, timeout=5)
            assert reply["content"] == f"hi {bob.mention}"
            assert reply["message_reference"]["message_id"] == str(mid)
            assert reply["allowed_mentions"]["parse"] == []
            assert reply["mentions"] == [] and reply["mention_everyone"] is False

            # Heartbeats: one right after HELLO, then every ~200 ms, each ACKed.
            await fake.wait_for_heartbeats(4, timeout=3)
            gaps = fake.heartbeat_intervals()[1:]
            assert gaps and all(0.1 < g < 0.6 for g in gaps), gaps
            assert bot.latency < 1.0

        fake.assert_no_unknown_routes()
        assert bot.is_closed()


async def test_ephemeral_followups_threads_dm_and_late_ack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeDiscord(ack_timeout=0.3) as fake:
        fake.install(monkeypatch)
        guild = fake.add_guild(name="G2")
        bob = guild.add_member("bob")
        carol = fake.add_user("carol")
        bot = make_bot(guild.id)
        async with fake.running(bot):
            # Ephemeral defer: the first follow-up replaces the 'thinking' message.
            inter = await fake.slash(guild, bob, "secret")
            await inter.wait_deferred()
            final = await inter.wait_done(lambda i: len(i.followups) == 2, timeout=5)
            assert inter.ephemeral and final.ephemeral
            assert final.content == "s1"
            assert [m["content"] for m in final.messages] == ["s1", "s2"]

            # Acknowledged too late: Discord (and the fake) answer 404 Unknown interaction.
            late = await fake.slash(guild, bob, "slow")
            await late.wait_done(lambda i: bool(i.rejected), timeout=5)
            assert not late.acked and "late ack" in late.rejected[0][1]

            # Thread from a message, then a conversation inside the thread.
            mid = await fake.send_message(guild, bob, f"{fake.bot_user.mention} thread please")
            in_thread = await fake.wait_for_message(None, lambda m: m["content"] == "in thread")
            thread = fake.created_threads[0]
            assert thread.id == mid and thread.type == 11 and thread.parent_id == guild.channel_id
            assert in_thread["channel_id"] == str(thread.id)
            await fake.send_message(
                guild, bob, f"{fake.bot_user.mention} and now?", channel_id=thread.id
            )
            answer = await fake.wait_for_message(thread.id, lambda m: m["content"].startswith("hi"))
            assert answer["content"] == f"hi {bob.mention}"

            # DMs.
            await fake.send_message(None, carol, "hello in private")
            dm = await fake.wait_for_message(fake.dm_channel(carol), timeout=5)
            assert dm["content"] == "dm: hello in private"

            # Every REST call is logged.
            assert fake.find_requests("POST", r"^/channels/\d+/messages/\d+/threads$")
        fake.assert_no_unknown_routes()
