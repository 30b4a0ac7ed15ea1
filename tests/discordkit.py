"""The Discord test kit shared by the bot's end-to-end tests (``tests/test_bot_*.py``,
``tests/reliability/test_bot_*.py``).

They drive the real discord.py client, started by ``articlebot run``'s code path
(``bot.discordbot.serve`` via :func:`fakediscord.articlebot.running_articlebot`), against the
loopback fake Discord, with the real Engine and models. The ``discord_scene`` fixture (loaded
as a plugin by ``tests/conftest.py``) builds the usual set-up: an engine, a server with its
members, the bundled sample article in that server's collection, and the bot to run on it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from fakediscord import FakeDiscord, FakeGuild, FakeInteraction, FakeUser
from fakediscord.articlebot import running_articlebot, sent_messages

from bot.discordbot.client import ArticleBot
from bot.discordbot.format import APOLOGY
from retrieval.engine import SAMPLE_NAME, Engine, sample_article_bytes

# Shaped like a real bot token (base64 id . timestamp . HMAC), so a leak is unmistakable.
SECRET_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhX2kq.Zk3vTq9-s3cr3tT0k3n_n3v3rL0gg3d-4f7a"

QUESTION = "Who is China's lead trade negotiator?"
# What the real models answer right (make demo's question): "Switzerland".
DEMO_QUESTION = "Where will the talks take place?"
SAMPLE_TITLE = "China and U.S. Trade Talks: A Hardball Approach Amidst Tensions"

HARBOUR = (b"Harbour News\n\nThe ferry to Skye now leaves Mallaig every hour, the harbour master "
           b"Morag Campbell said on Monday.\n\nTicket prices for the ferry rise to nine pounds "
           b"in June.\n")
BAKERY = (b"Bakery Opens\n\nA new bakery opened on Mill Street on Friday, run by the baker Tomas "
          b"Novak, selling rye bread to a queue of more than a hundred customers.\n")

_SOURCE = re.compile(r"^\[(\d+)\] \*(.+?)\*, paragraph (\d+): “(.*)”$", re.M)


def collection_of(guild: FakeGuild) -> str:
    """The collection the bot uses for ``guild``."""
    return f"guild-{guild.id}"


def add_sample(engine: Engine, guild: FakeGuild) -> None:
    """The bundled sample article, stored in ``guild``'s collection."""
    engine.ingest_bytes(sample_article_bytes(), SAMPLE_NAME, collection=collection_of(guild))


@dataclass
class Scene:
    """A server on the fake Discord, its members, and the engine the bot will serve."""

    fake: FakeDiscord
    engine: Engine
    guild: FakeGuild
    members: list[FakeUser]

    @property
    def collection(self) -> str:
        return collection_of(self.guild)

    def running(self, **client_options: Any) -> AbstractAsyncContextManager[ArticleBot]:
        """The bot (``articlebot run``'s start-up path) connected to the fake; on exit it
        stops the way SIGTERM stops it."""
        return running_articlebot(self.fake, self.engine.settings, self.engine,
                                  **client_options)


SceneFactory = Callable[..., Scene]


@pytest.fixture()
def discord_scene(fake_discord: FakeDiscord, make_engine: Callable[..., Engine]) -> SceneFactory:
    """``discord_scene("ada", "bob", admins={"ada"}, sample=True, guild="Newsroom",
    wrap_llm=None, **settings)``: an engine on the real models built with ``settings``, a
    server with those members (in that order; ``admins`` have Manage Server) and, unless
    ``sample=False``, the bundled sample article in the server's collection."""

    def build(*members: str, admins: Collection[str] = (), sample: bool = True,
              guild: str = "Newsroom", wrap_llm: Callable[[Any], Any] | None = None,
              **settings: Any) -> Scene:
        engine = make_engine(wrap_llm=wrap_llm, **settings)
        server = fake_discord.add_guild(guild)
        people = [server.add_member(name, admin=name in admins) for name in members]
        if sample:
            add_sample(engine, server)
        return Scene(fake_discord, engine, server, people)

    return build


ETNA = (b"Volcano Watch\n\nMount Etna erupted on Sunday, sending a column of ash four kilometres "
        b"into the sky.\n\nCatania airport closed for six hours while crews cleared ash from "
        b"the runway.\n")
ETNA_QUESTION = "Which airport closed after Mount Etna erupted?"
ETNA_ANSWER = "Catania airport closed for six hours while crews cleared ash from the runway"


@pytest.fixture()
def fast_discord_scene(fake_discord: FakeDiscord,
                       fast_engine: Callable[..., Engine]) -> SceneFactory:
    """``fast_discord_scene("ada", llm=QueuedLLM(...), **settings)``: the same scene on the
    fast tier's doubles (no model load), with the Etna article in the server's collection;
    the model answers ``ETNA_ANSWER`` unless ``llm`` says otherwise."""

    def build(*members: str, llm: Any = None, **settings: Any) -> Scene:
        from fakes import QueuedLLM

        llm = llm if llm is not None else QueuedLLM(default=lambda _: ETNA_ANSWER)
        engine = fast_engine(llm=llm, **settings)
        server = fake_discord.add_guild("Newsroom")
        people = [server.add_member(name) for name in members]
        engine.ingest_bytes(ETNA, "etna.txt", collection=collection_of(server))
        return Scene(fake_discord, engine, server, people)

    return build


def hold(engine: Engine, method: str) -> threading.Event:
    """``engine.<method>`` waits (up to 60 s) until the returned event is set, so that the
    bot's requests pile up behind it deterministically."""
    gate = threading.Event()
    real = getattr(engine, method)

    def held(*args: Any, **kwargs: Any) -> Any:
        gate.wait(60)
        return real(*args, **kwargs)

    setattr(engine, method, held)
    return gate


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
