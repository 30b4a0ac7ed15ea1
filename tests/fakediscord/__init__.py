"""Loopback fake Discord for driving a real discord.py client in tests.

Quick reference (``tests/test_fakediscord.py`` is a worked example)::

    async with FakeDiscord(heartbeat_interval_ms=200) as fake:
        fake.install(monkeypatch)                 # Route.BASE + DEFAULT_GATEWAY -> fake
        guild = fake.add_guild("G1")              # FakeGuild: .id, .channel_id, .add_member()
        alice = guild.add_member("alice", admin=True)   # FakeUser (.id, .mention)
        async with fake.running(bot):             # start, wait READY/GUILD_CREATE + on_ready
            inter = await fake.slash(guild, alice, "ask", {"question": "Who?"})
            await inter.wait_deferred(timeout=3)  # -> seconds from dispatch to callback
            final = await inter.wait_done(lambda i: "Sources" in i.text, timeout=60)
            inter.edits, inter.followups, inter.ephemeral, final.content, final.text
            mid = await fake.send_message(guild, alice, f"{fake.bot_user.mention} hi")
            reply = await fake.wait_for_message(guild.channel_id)
        fake.requests, fake.registered_commands, fake.heartbeats, fake.assert_no_unknown_routes()

Async fixtures must run on the test's loop (the project defaults fixtures to the session
loop); see :mod:`fakediscord.pytest_plugin` for a ready-made ``fake_discord`` fixture.
"""

from .payloads import (
    ADMINISTRATOR,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    MANAGE_GUILD,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
)
from .server import FakeDiscord
from .state import (
    FakeInteraction,
    FinalResponse,
    GatewaySession,
    RecordedRequest,
    UploadedFile,
)

__all__ = [
    "ADMINISTRATOR",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "MANAGE_GUILD",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "FinalResponse",
    "GatewaySession",
    "RecordedRequest",
    "UploadedFile",
]
