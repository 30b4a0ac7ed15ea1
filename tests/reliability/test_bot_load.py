"""Load through the loopback fake Discord: 50 concurrent /ask from 20 users in 3 servers,
then a burst of questions while a large upload is being embedded.

Every interaction must be acknowledged within Discord's 3 s, and end with exactly one final
answer (from its own server's article) or one private "busy" sentence; the gateway heartbeat
(every second here) is never late and memory stays bounded. The answer times and queue waits
are printed (run with ``-s``)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from discordkit import (
    BAKERY,
    HARBOUR,
    QUESTION,
    SAMPLE_TITLE,
    assert_nobody_pinged,
    finished,
    sources_of,
)
from fakediscord import FakeDiscord, FakeGuild, FakeInteraction, FakeUser
from fakediscord.articlebot import running_articlebot

from bot.discordbot.dispatch import BUSY
from retrieval.engine import SAMPLE_NAME, Engine, sample_article_bytes
from retrieval.evaluation.metrics import percentile

HEARTBEAT_MS = 1000
QUEUE_SIZE = 24
USERS = 20
QUESTIONS = 50
BURST = 10
# Growth after warm-up, mostly allocator high-water marks from the 300-chunk upload; a leak
# per question (or per streamed token) over these 60 questions would blow well past it.
RSS_GROWTH_LIMIT_MB = 400


@dataclass
class Server:
    guild: FakeGuild
    title: str
    question: str
    answer: str  # a phrase the answer must contain


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def inquiry(paragraphs: int) -> bytes:
    """A long article: embedding it keeps the upload busy for several seconds."""
    body = [f"On day {n} of the harbour inquiry, witness number {n} described how the pier "
            f"lights failed on the night of the storm. The committee asked why spare bulbs were "
            f"kept in a locked shed {n} miles away. Engineers said the wiring dated from "
            f"{1900 + n} and had never been replaced." for n in range(1, paragraphs + 1)]
    return ("Harbour Inquiry\n\n" + "\n\n".join(body) + "\n").encode()


def figures(name: str, values: Sequence[float]) -> str:
    if not values:
        return f"{name}: none"
    return (f"{name}: p50 {percentile(values, 50):.2f} s, p95 {percentile(values, 95):.2f} s, "
            f"max {max(values):.2f} s (n={len(values)})")


def check_outcomes(fake: FakeDiscord, asked: list[tuple[FakeInteraction, Server]]
                   ) -> tuple[list[FakeInteraction], list[FakeInteraction]]:
    """Each interaction: acknowledged once within 3 s, then exactly one final answer from
    its own server's article, or one private busy sentence. Returns (answered, busy)."""
    answered, busy = [], []
    for inter, server in asked:
        callbacks = [r for r in fake.requests if r.method == "POST"
                     and r.path.startswith(f"/interactions/{inter.id}/")]
        assert len(callbacks) == 1 and not inter.rejected, inter.describe()
        assert inter.ack_latency is not None and inter.ack_latency < 3, inter.describe()
        assert not inter.followups, inter.describe()
        if inter.content == BUSY:
            assert inter.ack_type == 4 and inter.ephemeral and not inter.edits, inter.describe()
            busy.append(inter)
            continue
        assert inter.ack_type == 5 and not inter.ephemeral, inter.describe()
        finals = [p["content"] for _, p in inter.edits
                  if not p["content"].endswith(" …") and not p["content"].startswith("⏳")]
        assert finals == [inter.content], inter.describe()  # one final answer, not two
        assert server.answer in inter.content, (server.title, inter.content)
        assert {title for _, title, _, _ in sources_of(inter.content)} == {server.title}
        answered.append(inter)
    return answered, busy


def heartbeat_gaps(fake: FakeDiscord) -> list[float]:
    return [b - a for a, b in itertools.pairwise(fake.heartbeats)]


@pytest.mark.slow
async def test_fifty_concurrent_questions_then_a_burst_during_an_upload(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(**{"discord.cooldown_s": 0, "discord.queue_size": QUEUE_SIZE})
    caplog.set_level(logging.INFO, logger="articlebot.discord")
    async with FakeDiscord(heartbeat_interval_ms=HEARTBEAT_MS) as fake:
        fake.install(monkeypatch)
        servers = [
            Server(fake.add_guild("Trade"), SAMPLE_TITLE, QUESTION, "He Lifeng"),
            Server(fake.add_guild("Harbour"), "Harbour News",
                   "How often does the ferry to Skye leave Mallaig?", "hour"),
            Server(fake.add_guild("Bakery"), "Bakery Opens",
                   "Who runs the new bakery on Mill Street?", "Tomas Novak"),
        ]
        for server, (data, name) in zip(servers, ((sample_article_bytes(), SAMPLE_NAME),
                                                  (HARBOUR, "harbour.txt"),
                                                  (BAKERY, "bakery.txt"))):
            engine.ingest_bytes(data, name, collection=f"guild-{server.guild.id}")
        # 20 users spread over the 3 servers; some are in two of them.
        members: list[tuple[FakeUser, Server]] = []
        for n in range(USERS):
            server = servers[n % 3]
            user = server.guild.add_member(f"user{n}")
            members.append((user, server))
            if n % 5 == 0:
                other = servers[(n + 1) % 3]
                other.guild.add_member(user)
                members.append((user, other))
        admin = servers[1].guild.add_member("ada", admin=True)

        async with running_articlebot(fake, engine.settings, engine):
            # Warm up first (one answer per server, one full embedding batch), so that what
            # is measured is growth, not the allocators' first high-water marks.
            firsts = [next(u for u, s in members if s is server) for server in servers]
            warm = [await fake.slash(s.guild, user, "ask", {"question": s.question})
                    for user, s in zip(firsts, servers)]
            await asyncio.gather(*(i.wait_done(finished, timeout=120) for i in warm))
            await asyncio.to_thread(engine.ingest_bytes, inquiry(64), "warm.txt",
                                    collection="warm-up")
            rss_before = rss_mb()
            beats_from = len(fake.heartbeats)
            logged_before = len(_waits(caplog))

            # -- 50 questions at once ----------------------------------------------------
            plan = [members[n % len(members)] for n in range(QUESTIONS)]
            inters = await asyncio.gather(*(
                fake.slash(server.guild, user, "ask", {"question": server.question})
                for user, server in plan))
            await asyncio.gather(*(i.wait_deferred(timeout=10) for i in inters))
            await asyncio.gather(*(i.wait_done(finished, timeout=600) for i in inters))
            asked = [(i, server) for i, (_, server) in zip(inters, plan)]
            answered, busy = check_outcomes(fake, asked)
            assert len(answered) + len(busy) == QUESTIONS
            assert len(answered) >= QUEUE_SIZE and busy, (len(answered), len(busy))
            assert {s.title for i, s in asked if i in answered} == {s.title for s in servers}
            first_waits = _waits(caplog)[logged_before:]
            rss_middle = rss_mb()

            # -- a burst while a large upload is embedding --------------------------------
            upload = await fake.slash(servers[1].guild, admin, "upload", {
                "file": fake.attachment(inquiry(300), "inquiry.txt", "text/plain")})
            await upload.wait_deferred(timeout=3)
            await _until(lambda: any(p.endswith("/inquiry.txt") for _, p in fake.cdn_fetches))
            await asyncio.sleep(0.1)  # the upload is now parsing/embedding in its thread
            burst_plan = [members[(7 * n) % len(members)] for n in range(BURST)]
            burst = await asyncio.gather(*(
                fake.slash(server.guild, user, "ask", {"question": server.question})
                for user, server in burst_plan))
            await asyncio.gather(*(i.wait_deferred(timeout=10) for i in burst))
            overlapped = not upload.content  # still 'thinking…' when the burst was acked
            await asyncio.gather(*(i.wait_done(finished, timeout=600) for i in burst))
            stored = (await upload.wait_done(finished, timeout=600)).content
            assert stored.startswith("Stored **Harbour Inquiry** (id "), stored
            assert overlapped, "the upload finished before the burst was acknowledged"
            burst_asked = [(i, server) for i, (_, server) in zip(burst, burst_plan)]
            burst_answered, burst_busy = check_outcomes(fake, burst_asked)
            assert len(burst_answered) == BURST and not burst_busy
            rss_after = rss_mb()

        gaps = heartbeat_gaps(fake)[beats_from:]
        assert gaps and max(gaps) < HEARTBEAT_MS / 1000 * 1.5, gaps
        assert rss_after - rss_before < RSS_GROWTH_LIMIT_MB, (rss_before, rss_after)
        assert_nobody_pinged(fake)
        fake.assert_no_unknown_routes()

    waits = _waits(caplog)
    all_answered = [*answered, *burst_answered]
    answer_times = [i.edits[-1][0] - i.dispatched_at for i in answered]
    burst_times = [i.edits[-1][0] - i.dispatched_at for i in burst_answered]
    acks = [i.ack_latency or 0.0 for i in [*inters, *burst]]
    print(f"\n{QUESTIONS} concurrent /ask from {USERS} users in 3 servers "
          f"(queue_size {QUEUE_SIZE}): {len(answered)} answered, {len(busy)} busy")
    print(figures("  answer time (dispatch to final edit)", answer_times))
    print(figures("  queue wait (logged wait_s)", first_waits))
    print(f"burst of {BURST} /ask during a 300-paragraph upload: "
          f"{len(burst_answered)} answered; upload: {stored}")
    print(figures("  answer time", burst_times))
    print(figures("  queue wait", waits[logged_before + len(first_waits):]))
    print(figures("acknowledgement (all)", acks))
    print(f"heartbeat gaps ({len(gaps)}): max {max(gaps):.3f} s, mean "
          f"{statistics.fmean(gaps):.3f} s (interval {HEARTBEAT_MS / 1000:.1f} s)")
    print(f"RSS {rss_before:.0f} MB -> {rss_middle:.0f} MB after the 50 -> {rss_after:.0f} MB "
          f"after the burst and upload ({rss_after - rss_before:+.0f} MB)")
    assert len(waits) == logged_before + len(all_answered)


def _waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    """Queue waits from the bot's one log line per question (``wait_s=``)."""
    lines = [r.getMessage() for r in caplog.records if r.name == "articlebot.discord"]
    return [float(m.group(1)) for line in lines
            if (m := re.match(r"ask guild=\d+ queued_ahead=\d+ wait_s=([\d.]+) ", line))]


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)
