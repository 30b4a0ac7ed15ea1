"""The follow-up memory never waits on its store on the event loop (on PostgreSQL each read
and write is a network round trip, and during a failover one can take the pool's timeout):
the bot keeps answering while the store hangs, and a reply to someone else's message does
not look the memory up at all."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from discordkit import ETNA_ANSWER, ETNA_QUESTION, SceneFactory, finished
from fakediscord.articlebot import sent_messages

from retrieval.store.turns import TurnStore


class HangingTurns:
    """A turn store whose reads and writes wait for ``gate`` and record their thread."""

    def __init__(self, real: TurnStore) -> None:
        self.real = real
        self.gate = threading.Event()
        self.calls: list[tuple[str, Any, str]] = []

    def load(self, key: int) -> str | None:
        self.calls.append(("load", key, threading.current_thread().name))
        self.gate.wait(10)
        return self.real.load(key)

    def save(self, keys: Sequence[int], guild: str, updated: float, turns: str,
             keep: int) -> None:
        self.calls.append(("save", list(keys), threading.current_thread().name))
        self.gate.wait(10)
        self.real.save(keys, guild, updated, turns, keep)

    def close(self) -> None:
        self.gate.set()
        self.real.close()


async def test_a_hanging_memory_store_does_not_freeze_the_bot_and_chatter_replies_skip_it(
    fast_discord_scene: SceneFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    scene = fast_discord_scene("alice", "bob", **{"discord.cooldown_s": 0})
    fake, guild, [alice, bob] = scene.fake, scene.guild, scene.members
    real = scene.engine.conversation_turns()
    assert real is not None
    store = HangingTurns(real)
    monkeypatch.setattr(scene.engine, "conversation_turns", lambda: store)

    async with scene.running():
        loop_thread = threading.current_thread().name
        first = await fake.slash(guild, alice, "ask", {"question": ETNA_QUESTION})
        await first.wait_done(finished, timeout=30)
        # The answer's write hangs in the store; the next /ask is answered all the same.
        await asyncio.sleep(0.2)
        assert [c[0] for c in store.calls] == ["save"]
        second = await fake.slash(guild, bob, "ask", {"question": ETNA_QUESTION})
        assert ETNA_ANSWER in (await second.wait_done(finished, timeout=10)).content

        # A reply to a member's message is chatter: no memory lookup, no answer.
        chatter = await fake.send_message(guild, alice, "lunch anyone?")
        await fake.send_message(guild, bob, "yes please", reference=chatter)
        await asyncio.sleep(0.5)
        assert [c[0] for c in store.calls] == ["save", "save"]
        posted = len(sent_messages(fake))
        store.gate.set()
        await asyncio.sleep(0.3)
        assert len(sent_messages(fake)) == posted

    assert store.calls and all(thread != loop_thread for _, _, thread in store.calls)
    fake.assert_no_unknown_routes()
