"""The bot's moving parts with small fakes: cooldowns, the admin rule, follow-up memory, the
single model worker, the token bridge, the edit throttle and delivering a long answer."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.discordbot.dispatch import Accepted, Dispatcher
from bot.discordbot.format import APOLOGY
from bot.discordbot.guards import Cooldown, collection_for, is_admin
from bot.discordbot.memory import ConversationMemory
from bot.discordbot.stream import ThrottledEditor
from bot.discordbot.worker import LLMWorker, QueueExpired, QueueFull, TokenStream
from bot.metrics import Metrics
from config import Settings
from retrieval.engine import TurnStore
from retrieval.errors import NotFoundError
from retrieval.types import Turn


def test_cooldown_counts_down_per_user_and_zero_disables_it() -> None:
    now = [100.0]
    cooldown = Cooldown(5, clock=lambda: now[0])
    assert cooldown.remaining(1) == 0
    cooldown.hit(1)
    now[0] += 2
    assert cooldown.remaining(1) == pytest.approx(3) and cooldown.remaining(2) == 0
    now[0] += 3
    assert cooldown.remaining(1) == 0
    off = Cooldown(0)
    off.hit(1)
    assert off.remaining(1) == 0


def test_admins_and_collections() -> None:
    assert is_admin(manage_guild=True, role_names=[], admin_role="")
    assert not is_admin(manage_guild=False, role_names=["Editors"], admin_role="")
    assert is_admin(manage_guild=False, role_names=["Editors"], admin_role="Editors")
    assert not is_admin(manage_guild=False, role_names=["editors"], admin_role="Editors")
    assert collection_for(42, "default") == "guild-42"
    assert collection_for(None, "default") == "default"


def test_memory_keeps_recent_turns_under_every_key_and_forgets_the_oldest() -> None:
    memory = ConversationMemory(max_keys=3, max_turns=2)
    memory.remember([1, 2], (), Turn("q1", "a1"))
    memory.remember([3], memory.get(1), Turn("q2", "a2"))
    assert [t.question for t in memory.get(3)] == ["q1", "q2"]
    memory.remember([4], memory.get(3), Turn("q3", "a3"))
    assert [t.question for t in memory.get(4)] == ["q2", "q3"]  # at most max_turns
    assert memory.get(2) == () and len(memory) == 3  # key 2 was the least recently used
    assert memory.get(None) == ()


async def test_the_worker_runs_one_job_at_a_time_in_order_and_refuses_when_full() -> None:
    worker = LLMWorker(queue_size=3)
    worker.start()
    gate = threading.Event()
    active: list[int] = []
    order: list[str] = []
    threads: set[int] = set()

    def job(name: str) -> Callable[[], str]:
        def run() -> str:
            active.append(1)
            assert len(active) == 1  # never two at once
            threads.add(threading.get_ident())
            gate.wait(10)
            order.append(name)
            active.pop()
            return name
        return run

    first, ahead0 = worker.submit(job("a"))
    await asyncio.sleep(0.05)  # the worker takes "a"; the queue is empty again
    futures = [worker.submit(job(n)) for n in "bcd"]
    assert [ahead for _, ahead in futures] == [1, 2, 3] and ahead0 == 0
    with pytest.raises(QueueFull):
        worker.submit(job("e"))
    assert threading.get_ident() not in threads
    gate.set()
    assert await asyncio.gather(first, *(f for f, _ in futures)) == ["a", "b", "c", "d"]
    assert order == ["a", "b", "c", "d"] and len(threads) == 1

    def boom() -> None:
        raise NotFoundError("No article 'x' in this collection.")

    with pytest.raises(NotFoundError):
        await worker.submit(boom)[0]
    await worker.close()


async def test_closing_the_worker_finishes_the_running_job_and_fails_the_waiting_ones() -> None:
    worker = LLMWorker(queue_size=2)
    worker.start()

    def slow() -> str:
        time.sleep(0.3)
        return "done"

    running, _ = worker.submit(slow)
    await asyncio.sleep(0.05)
    waiting, _ = worker.submit(lambda: "never")
    await worker.close()
    assert running.result() == "done"
    with pytest.raises(QueueFull):
        await waiting
    with pytest.raises(QueueFull):
        worker.submit(lambda: None)

    stuck = LLMWorker(queue_size=1)
    stuck.start()
    release = threading.Event()
    never, _ = stuck.submit(lambda: release.wait(5))
    await asyncio.sleep(0.05)
    close = asyncio.create_task(stuck.close(timeout=0.1))
    await asyncio.sleep(0.3)
    with pytest.raises(QueueFull):  # gave up waiting: its caller is told, not left hanging
        await never
    release.set()
    await close


async def test_tokens_from_a_thread_reach_the_loop_in_order() -> None:
    stream = TokenStream(asyncio.get_running_loop())
    thread = threading.Thread(target=lambda: [stream.push(t) for t in ["He", " Li", "feng"]])
    thread.start()
    thread.join()
    assert await stream.changed() == "He Lifeng" and stream.tokens == 3


async def test_the_editor_keeps_edits_an_interval_apart_and_stops_between_requests() -> None:
    sent: list[tuple[float, str]] = []

    async def edit(content: str) -> int:
        sent.append((time.monotonic(), content))
        await asyncio.sleep(0.02)
        return len(sent)

    editor = ThrottledEditor(edit, interval=0.2, first_delay=0)
    stream = TokenStream(asyncio.get_running_loop())
    follower = asyncio.create_task(editor.follow(stream))
    for token in ["He", " Lifeng", " is", " China's", " negotiator"]:
        stream.push(token)
        await asyncio.sleep(0.07)
    await editor.stop(follower)
    await editor.show("He Lifeng is China's negotiator.")
    times = [t for t, _ in sent]
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(times)), times
    assert sent[0][1] == "He …" and sent[-1][1] == "He Lifeng is China's negotiator."
    assert 2 <= len(sent) <= 4 and editor.edits == len(sent)


async def test_a_short_answer_done_before_the_first_preview_is_shown_once_whole() -> None:
    sent: list[str] = []

    async def edit(content: str) -> int:
        sent.append(content)
        return 1

    editor = ThrottledEditor(edit, interval=1.0, first_delay=0.2)
    stream = TokenStream(asyncio.get_running_loop())
    follower = asyncio.create_task(editor.follow(stream))
    stream.push("He")
    await asyncio.sleep(0.05)
    stream.push(" Lifeng")
    await asyncio.sleep(0.05)
    await editor.stop(follower)
    started = time.monotonic()
    await editor.show("He Lifeng")
    assert sent == ["He Lifeng"] and time.monotonic() - started < 0.1  # no throttle wait


class RecordingReply:
    def __init__(self) -> None:
        self.edits: list[str] = []
        self.sent: list[str] = []
        self.fallbacks: list[str] = []
        self.expires_at: float | None = None
        self.fallback_lead = ""

    async def fallback(self, content: str) -> int:
        self.fallbacks.append(content)
        return 100 + len(self.fallbacks)

    async def edit(self, content: str) -> int:
        self.edits.append(content)
        return 1

    async def send(self, content: str) -> int:
        self.sent.append(content)
        return 2 + len(self.sent)


async def test_deliver_splits_long_answers_and_turns_errors_into_one_sentence(
    fast_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture,
) -> None:
    settings = fast_settings(**{"discord.edit_interval_s": 0.2})
    dispatcher = Dispatcher(settings, Metrics())
    loop = asyncio.get_running_loop()

    async def deliver(outcome: Any) -> tuple[RecordingReply, list[int]]:
        future: asyncio.Future[str] = loop.create_future()
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
        reply = RecordingReply()
        accepted = Accepted(future, TokenStream(loop), 2, time.monotonic())
        delivered = await dispatcher.deliver(reply, accepted, lambda s: s, context="test")
        return reply, delivered.message_ids

    long = "\n\n".join(f"Paragraph {n}. " + "word " * 150 for n in range(6))
    reply, ids = await deliver(long)
    assert reply.edits[0] == "⏳ 2 questions are ahead of yours…"
    assert len(reply.sent) >= 2 and ids == [1, *range(3, 3 + len(reply.sent))]
    assert all(len(p) <= 2000 for p in [*reply.edits, *reply.sent])
    reply, _ = await deliver(NotFoundError("No article 'x' in this collection."))
    assert reply.edits[-1] == "No article 'x' in this collection." and not reply.sent
    with caplog.at_level(logging.ERROR, logger="articlebot.discord"):
        reply, _ = await deliver(RuntimeError("disk on fire"))
    assert reply.edits[-1] == APOLOGY
    assert "unexpected error while answering (test)" in caplog.text
    assert "disk on fire" in caplog.text  # the traceback goes to the log, not the user
    await dispatcher.drain()
    await dispatcher.close()


@pytest.fixture(params=["sqlite", "postgres"])
def turn_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], TurnStore]:
    """Opens the follow-up memory's store anew, as a restarted process (or another host)
    would: the data directory's SQLite file, or the shared PostgreSQL database."""
    if request.param == "sqlite":
        from retrieval.store.turns import SqliteTurns

        return lambda: SqliteTurns(tmp_path / "memory.sqlite3")
    request.getfixturevalue("pg_url")
    from retrieval.store.postgres import postgres_backend

    return lambda: postgres_backend(pool_size=2).turns(tmp_path)


def test_memory_survives_a_restart_and_is_bounded_per_server(
    turn_store: Callable[[], TurnStore],
) -> None:
    memory = ConversationMemory(max_turns=2, store=turn_store(), max_keys_per_guild=3)
    memory.remember([10, 11], (), Turn("q1", "a1"), guild=1)
    memory.remember([12], memory.get(10), Turn("q2", "a2"), guild=1)
    for key in range(100, 105):  # another server's conversations do not push these out
        memory.remember([key], (), Turn("other", "x"), guild=2)
    memory.close()

    restarted = ConversationMemory(max_turns=2, store=turn_store(), max_keys_per_guild=3)
    assert [t.question for t in restarted.get(12)] == ["q1", "q2"]
    assert [t.question for t in restarted.get(11)] == ["q1"]
    assert restarted.get(100) == () and restarted.get(101) == ()  # beyond 3 for server 2
    assert [t.question for t in restarted.get(104)] == ["other"]
    restarted.remember([13], restarted.get(12), Turn("q3", "a3"), guild=1)
    restarted.close()
    again = ConversationMemory(max_turns=2, store=turn_store(), max_keys_per_guild=3)
    assert [t.question for t in again.get(13)] == ["q2", "q3"]
    assert again.get(10) == ()  # server 1 had four keys now: the oldest went
    again.close()


async def test_a_queued_job_not_started_by_its_deadline_is_dropped_and_frees_its_slot() -> None:
    worker = LLMWorker(queue_size=1)
    worker.start()
    gate = threading.Event()
    running, _ = worker.submit(lambda: gate.wait(10))
    await asyncio.sleep(0.05)
    late, ahead = worker.submit(lambda: "too late", start_by=time.monotonic() + 0.1)
    assert ahead == 1 and worker.waiting == 1
    with pytest.raises(QueueExpired):
        await late
    assert worker.waiting == 0 and worker.expired == 1  # the slot is free before its turn
    room, _ = worker.submit(lambda: "in time", start_by=time.monotonic() + 30)
    gate.set()
    assert await room == "in time" and await running
    await worker.close()


async def test_a_cancelled_job_frees_its_queue_slot_at_once() -> None:
    worker = LLMWorker(queue_size=1)
    worker.start()
    gate = threading.Event()
    running, _ = worker.submit(lambda: gate.wait(10))
    await asyncio.sleep(0.05)
    abandoned, _ = worker.submit(lambda: "nobody waits")
    abandoned.cancel()
    await asyncio.sleep(0)
    assert worker.waiting == 0
    taken, _ = worker.submit(lambda: "next")
    gate.set()
    assert await taken == "next" and await running
    await worker.close()
