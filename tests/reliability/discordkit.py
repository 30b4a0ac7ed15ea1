"""Shared pieces of the Discord-side reliability tests (``tests/reliability/test_bot_*.py``).

Those tests drive the real discord.py client, started by ``articlebot run``'s code path
(``bot.discordbot.serve`` via :func:`fakediscord.articlebot.running_articlebot`), against the
loopback fake Discord, with the real Engine and models.
"""

from __future__ import annotations

import re
from typing import Any

from fakediscord import FakeDiscord, FakeInteraction
from fakediscord.articlebot import sent_messages

from bot.discordbot.format import APOLOGY

# Shaped like a real bot token (base64 id . timestamp . HMAC), so a leak is unmistakable.
SECRET_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhX2kq.Zk3vTq9-s3cr3tT0k3n_n3v3rL0gg3d-4f7a"

QUESTION = "Who is China's lead trade negotiator?"
SAMPLE_TITLE = "China and U.S. Trade Talks: A Hardball Approach Amidst Tensions"

HARBOUR = (b"Harbour News\n\nThe ferry to Skye now leaves Mallaig every hour, the harbour master "
           b"Morag Campbell said on Monday.\n\nTicket prices for the ferry rise to nine pounds "
           b"in June.\n")
BAKERY = (b"Bakery Opens\n\nA new bakery opened on Mill Street on Friday, run by the baker Tomas "
          b"Novak, selling rye bread to a queue of more than a hundred customers.\n")

_SOURCE = re.compile(r"^\[(\d+)\] \*(.+?)\*, paragraph (\d+): “(.*)”$", re.M)


def finished(inter: FakeInteraction) -> bool:
    """The interaction shows its final text: no 'thinking…', queue note or streaming '…'."""
    text = inter.content
    return (inter.acked and not inter.loading and bool(text) and not text.endswith("…")
            and not text.startswith("⏳"))


async def reply_of(inter: FakeInteraction, timeout: float = 60) -> str:
    return (await inter.wait_done(finished, timeout=timeout)).content


def is_one_sentence(text: str) -> bool:
    """A short, single-line, single-sentence message (not an apology, not a traceback)."""
    return (0 < len(text) <= 300 and "\n" not in text and text.endswith(".")
            and "Traceback" not in text and text != APOLOGY)


def sources_of(content: str) -> list[tuple[int, str, int, str]]:
    """The numbered sources under an answer: (number, title, 1-based paragraph, quote)."""
    _, _, sources = content.partition("\n\n**Sources**\n")
    return [(int(n), title, int(par), quote) for n, title, par, quote in _SOURCE.findall(sources)]


def unescape(text: str) -> str:
    """Undo ``bot.discordbot.format.escape`` (Markdown escapes in titles and quotes)."""
    return re.sub(r"\\(.)", r"\1", text)


def assert_nobody_pinged(fake: FakeDiscord) -> int:
    """Every request that sent message content forbade all mentions, and no message the
    bot posted pinged anyone. Returns how many content requests were checked."""
    sent = sent_messages(fake)
    for method, path, payload in sent:
        allowed = payload.get("allowed_mentions")
        assert isinstance(allowed, dict), (method, path, payload)
        assert allowed.get("parse") == [], (method, path, payload)
        assert not allowed.get("users") and not allowed.get("roles"), (method, path, payload)
        assert not allowed.get("replied_user"), (method, path, payload)
    messages: list[dict[str, Any]] = [m for inter in fake.interactions for m in inter.messages]
    messages += fake.bot_messages()
    for m in messages:
        assert m["mention_everyone"] is False, m
        assert m["mentions"] == [] and m["mention_roles"] == [], m
    return len(sent)
