"""The loopback fake Discord: an aiohttp app serving REST under ``/api/v10``, a gateway
websocket at ``/gateway`` and a tiny CDN under ``/attachments``.

A real ``discord.Client`` / ``commands.Bot`` is pointed at it with :meth:`FakeDiscord.install`
and driven with :meth:`FakeDiscord.slash`, :meth:`FakeDiscord.send_message` & co.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

from .payloads import (
    CHANNEL_DM,
    CHANNEL_PRIVATE_THREAD,
    CHANNEL_PUBLIC_THREAD,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    FLAG_EPHEMERAL,
    FLAG_HAS_THREAD,
    FLAG_LOADING,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    error_response,
    interaction_token,
    iso_now,
    json_response,
    no_content,
    public_message,
    resolve_mentions,
    snowflake,
    snowflake_on_shard,
    validate_commands,
    validate_message,
)

log = logging.getLogger("fakediscord")

API_PREFIX = "/api/v10"
T = TypeVar("T")


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


class _Pulse:
    """A 'something changed' signal that many waiters can poll a predicate against."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float,
        describe: Callable[[], str] = lambda: "",
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._event
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"fakediscord: timed out after {timeout}s. {describe()}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def quiet_for(self, seconds: float) -> bool:
        """True if nothing changed during ``seconds``."""
        event = self._event
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except asyncio.TimeoutError:
            return True
        return False


@dataclass
class UploadedFile:
    """One ``files[i]`` part of a multipart request."""

    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One REST call the client made. ``path`` is relative to ``/api/v10``."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    headers: dict[str, str]
    time: float
    status: int | None = None


@dataclass
class _Rule:
    method: str
    pattern: re.Pattern[str]
    remaining: int | None
    kind: str  # "ratelimit" | "error" | "delay"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.method in ("*", method) and bool(self.pattern.search(path))


@dataclass
class _ServedFile:
    data: bytes
    content_type: str
    status: int = 200
    delay: float = 0.0


def _message_text(msg: Mapping[str, Any] | None) -> str:
    if not msg:
        return ""
    parts = [msg.get("content") or ""]
    for e in msg.get("embeds") or []:
        parts.extend([e.get("title") or "", e.get("description") or ""])
        for f in e.get("fields") or []:
            parts.append(f"{f.get('name', '')}: {f.get('value', '')}")
        parts.append((e.get("footer") or {}).get("text") or "")
    return "\n".join(p for p in parts if p)


def _id_of(x: FakeUser | FakeGuild | FakeRole | FakeChannel | int | str) -> int:
    if isinstance(x, (int, str)):
        return int(x)
    return x.id


# --------------------------------------------------------------------------------------
# interactions
# --------------------------------------------------------------------------------------


@dataclass
class FinalResponse:
    """What the user ends up seeing for one interaction."""

    content: str
    embeds: list[dict[str, Any]]
    followups: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    text: str
    ephemeral: bool
    original: dict[str, Any] | None


class FakeInteraction:
    """Handle on one dispatched interaction (slash command, autocomplete, component).

    Attributes filled in as the bot answers: ``ack_type`` (callback type: 4 message,
    5 deferred, 6 deferred update, 7 update, 8 autocomplete, 9 modal), ``ack_latency``,
    ``ephemeral``, ``original`` (current @original message dict), ``edits`` (list of
    ``(monotonic_time, payload_as_sent)`` for PATCH @original), ``followups`` (message
    dicts), ``choices`` (autocomplete), ``modal``, ``rejected`` (requests the fake refused:
    ``(time, reason, payload)``)."""

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        interaction_id: int,
        token: str,
        type: int,
        name: str,
        guild: FakeGuild | None,
        user: FakeUser,
        channel_id: int,
        payload: dict[str, Any],
        target_message: dict[str, Any] | None = None,
    ) -> None:
        self._fake = fake
        self.id = interaction_id
        self.token = token
        self.type = type
        self.name = name
        self.guild = guild
        self.user = user
        self.channel_id = channel_id
        self.payload = payload
        self.target_message = target_message
        self.dispatched_at = time.monotonic()
        self.ack_type: int | None = None
        self.ack_at: float | None = None
        self.ack_payload: dict[str, Any] | None = None
        self.ephemeral = False
        self.original: dict[str, Any] | None = None
        self.original_deleted = False
        self.edits: list[tuple[float, dict[str, Any]]] = []
        self.followups: list[dict[str, Any]] = []
        self.choices: list[dict[str, Any]] | None = None
        self.modal: dict[str, Any] | None = None
        self.rejected: list[tuple[float, str, Any]] = []
        self._pulse = _Pulse()

    def __repr__(self) -> str:
        return (
            f"<FakeInteraction {self.name!r} type={self.type} ack={self.ack_type} "
            f"edits={len(self.edits)} followups={len(self.followups)}>"
        )

    # -- state -------------------------------------------------------------------------
    @property
    def acked(self) -> bool:
        return self.ack_type is not None

    @property
    def deferred(self) -> bool:
        return self.ack_type in (5, 6)

    @property
    def ack_latency(self) -> float | None:
        """Seconds from dispatch to the (accepted) callback POST."""
        return None if self.ack_at is None else self.ack_at - self.dispatched_at

    @property
    def loading(self) -> bool:
        """Deferred and the 'thinking…' message has not been replaced yet."""
        return bool(self.original and self.original.get("flags", 0) & FLAG_LOADING)

    @property
    def content(self) -> str:
        return (self.original or {}).get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list((self.original or {}).get("embeds") or [])

    @property
    def messages(self) -> list[dict[str, Any]]:
        """@original (if any, and not deleted) then follow-ups, de-duplicated by id."""
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        first = [] if self.original is None or self.original_deleted else [self.original]
        for m in [*first, *self.followups]:
            if m["id"] not in seen and not m.get("deleted"):
                seen.add(m["id"])
                out.append(m)
        return out

    @property
    def text(self) -> str:
        """All visible text: content + embed titles/descriptions/fields of every message."""
        return "\n".join(t for t in (_message_text(m) for m in self.messages) if t)

    def result(self) -> FinalResponse:
        return FinalResponse(
            content=self.content,
            embeds=self.embeds,
            followups=[public_message(m) for m in self.followups],
            messages=[public_message(m) for m in self.messages],
            text=self.text,
            ephemeral=self.ephemeral,
            original=None if self.original is None else public_message(self.original),
        )

    def describe(self) -> str:
        return (
            f"interaction {self.name!r}: ack_type={self.ack_type} ack_latency={self.ack_latency} "
            f"loading={self.loading} edits={len(self.edits)} followups={len(self.followups)} "
            f"rejected={[r[1] for r in self.rejected]} text={self.text[:300]!r}"
        )

    def _changed(self) -> None:
        self._pulse.notify()
        self._fake._pulse.notify()

    # -- waiting -----------------------------------------------------------------------
    async def wait_deferred(self, timeout: float = 3.0) -> float:
        """Wait for the interaction callback (defer or direct response); return its latency."""
        await self._pulse.wait_for(lambda: self.acked, timeout, self.describe)
        assert self.ack_latency is not None
        return self.ack_latency

    wait_ack = wait_deferred

    async def wait_done(
        self,
        predicate: Callable[[FakeInteraction], bool] | None = None,
        timeout: float = 60.0,
        *,
        settle: float = 0.0,
    ) -> FinalResponse:
        """Wait until ``predicate(self)`` holds (default: acknowledged and a real message is
        visible — not just 'thinking…'), then, if ``settle`` > 0, until nothing changed for
        ``settle`` seconds. Returns a :class:`FinalResponse` snapshot."""

        def default(i: FakeInteraction) -> bool:
            return i.acked and ((i.original is not None and not i.loading) or bool(i.followups))

        pred = predicate or default
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self._pulse.wait_for(
                lambda: pred(self), max(0.0, deadline - loop.time()), self.describe
            )
            if settle <= 0 or await self._pulse.quiet_for(settle):
                return self.result()
            if loop.time() >= deadline:
                raise TimeoutError(f"fakediscord: never settled. {self.describe()}")

    async def wait_choices(self, timeout: float = 3.0) -> list[dict[str, Any]]:
        await self._pulse.wait_for(lambda: self.choices is not None, timeout, self.describe)
        return list(self.choices or [])


# --------------------------------------------------------------------------------------
# gateway
# --------------------------------------------------------------------------------------


class GatewaySession:
    """One websocket connection from the client (one shard)."""

    def __init__(self, fake: FakeDiscord, ws: web.WebSocketResponse) -> None:
        self._fake = fake
        self.ws = ws
        self.session_id = uuid.uuid4().hex
        self.seq = 0
        self.shard_id = 0
        self.shard_count = 1
        self.intents = 0
        self.identify: dict[str, Any] | None = None
        self.resumed = False
        self.ready = False
        self.closed = False
        self.heartbeats: list[float] = []
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.sent: list[tuple[float, int, str | None]] = []
        self._lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            await self._send_locked(payload)

    async def _send_locked(self, payload: dict[str, Any]) -> None:
        if self.ws.closed:
            raise ConnectionResetError("gateway websocket is closed")
        self.sent.append((time.monotonic(), payload["op"], payload.get("t")))
        await self.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: Any) -> int:
        async with self._lock:
            self.seq += 1
            await self._send_locked({"op": 0, "t": event, "s": self.seq, "d": data})
            return self.seq

    def has_intent(self, bit: int) -> bool:
        return bool(self.intents & bit)


# --------------------------------------------------------------------------------------
# the fake
# --------------------------------------------------------------------------------------

_Handler = Callable[..., Awaitable[web.StreamResponse]]
_ROUTE_TABLE: list[tuple[str, str, str]] = [
    ("GET", r"/users/@me", "_h_me"),
    ("POST", r"/users/@me/channels", "_h_create_dm"),
    ("GET", r"/users/(?P<user_id>\d+)", "_h_user"),
    ("GET", r"/oauth2/applications/@me", "_h_app_info"),
    ("GET", r"/applications/@me", "_h_app_info"),
    ("GET", r"/gateway", "_h_gateway"),
    ("GET", r"/gateway/bot", "_h_gateway_bot"),
    ("GET", r"/applications/(?P<app>\d+)/commands", "_h_get_commands"),
    ("PUT", r"/applications/(?P<app>\d+)/commands", "_h_put_commands"),
    ("POST", r"/applications/(?P<app>\d+)/commands", "_h_post_command"),
    ("GET", r"/applications/(?P<app>\d+)/guilds/(?P<guild_id>\d+)/commands", "_h_get_commands"),
    ("PUT", r"/applications/(?P<app>\d+)/guilds/(?P<guild_id>\d+)/commands", "_h_put_commands"),
    ("POST", r"/applications/(?P<app>\d+)/guilds/(?P<guild_id>\d+)/commands", "_h_post_command"),
    ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", "_h_callback"),
    (
        "GET",
        r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
        "_h_wh_get",
    ),
    (
        "PATCH",
        r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
        "_h_wh_edit",
    ),
    (
        "DELETE",
        r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
        "_h_wh_delete",
    ),
    ("POST", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", "_h_wh_followup"),
    ("GET", r"/channels/(?P<cid>\d+)", "_h_get_channel"),
    ("GET", r"/channels/(?P<cid>\d+)/messages", "_h_history"),
    ("POST", r"/channels/(?P<cid>\d+)/messages", "_h_create_message"),
    ("GET", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", "_h_get_message"),
    ("PATCH", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", "_h_edit_message"),
    ("DELETE", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", "_h_delete_message"),
    ("POST", r"/channels/(?P<cid>\d+)/typing", "_h_typing"),
    (
        "PUT",
        r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/reactions/(?P<emoji>[^/]+)/@me",
        "_h_add_reaction",
    ),
    (
        "DELETE",
        r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/reactions/(?P<emoji>[^/]+)/@me",
        "_h_remove_reaction",
    ),
    ("POST", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/threads", "_h_thread_from_message"),
    ("POST", r"/channels/(?P<cid>\d+)/threads", "_h_thread"),
    ("PUT", r"/channels/(?P<cid>\d+)/thread-members/@me", "_h_thread_join"),
    ("DELETE", r"/channels/(?P<cid>\d+)/thread-members/@me", "_h_thread_join"),
    ("GET", r"/guilds/(?P<guild_id>\d+)", "_h_get_guild"),
    ("GET", r"/guilds/(?P<guild_id>\d+)/channels", "_h_guild_channels"),
    ("GET", r"/guilds/(?P<guild_id>\d+)/roles", "_h_guild_roles"),
    ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", "_h_guild_member"),
]
_ROUTES = [(m, re.compile(p + "$"), h) for m, p, h in _ROUTE_TABLE]
# Routes that authenticate with the interaction token, not the bot token.
_TOKEN_ROUTES = (
    "_h_gateway",
    "_h_callback",
    "_h_wh_get",
    "_h_wh_edit",
    "_h_wh_delete",
    "_h_wh_followup",
)


@dataclass
class _Req:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    record: RecordedRequest


class FakeDiscord:
    """Loopback fake Discord. Use as ``async with FakeDiscord() as fake: ...``.

    Options: ``token`` the bot token it accepts; ``heartbeat_interval_ms`` sent in HELLO;
    ``shard_count`` answered by ``GET /gateway/bot``; ``ack_heartbeats`` (False simulates a
    zombie connection); ``ack_timeout`` seconds within which an interaction must be
    acknowledged (None: no limit; late callbacks get 404 10062 like Discord);
    ``token_ttl`` interaction token lifetime (15 min); ``attachment_size_limit`` per file;
    ``strict`` validates message/command limits (2000 chars content, 4096 embed
    description, 6000 per message, ...) and answers 400 like Discord; ``enforce_intents``
    drops MESSAGE_CREATE without the messages intents and blanks content without the
    message-content intent (unless the bot is mentioned / DM), as Discord does;
    ``refused_intents`` are intent bits the application may not use (a privileged intent not
    enabled in the Developer Portal): IDENTIFY asking for one is closed with 4014."""

    def __init__(
        self,
        *,
        token: str = "fake-token",
        bot_name: str = "ArticleBot",
        heartbeat_interval_ms: int = 41250,
        shard_count: int = 1,
        ack_heartbeats: bool = True,
        ack_timeout: float | None = 3.0,
        token_ttl: float = 15 * 60,
        attachment_size_limit: int = 10 * 1024 * 1024,
        strict: bool = True,
        enforce_intents: bool = True,
        echo_bot_messages: bool = True,
        refused_intents: int = 0,
    ) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.shard_count = shard_count
        self.ack_heartbeats = ack_heartbeats
        self.ack_timeout = ack_timeout
        self.token_ttl = token_ttl
        self.attachment_size_limit = attachment_size_limit
        self.strict = strict
        self.enforce_intents = enforce_intents
        self.echo_bot_messages = echo_bot_messages
        self.refused_intents = refused_intents

        self.bot_user = FakeUser(id=snowflake(), name=bot_name, bot=True)
        self.application_id = self.bot_user.id
        self.owner_user = FakeUser(id=snowflake(), name="app-owner")
        self.users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user}
        self.guilds: dict[int, FakeGuild] = {}
        self._channels: dict[int, FakeChannel] = {}
        self._messages: dict[int, dict[str, Any]] = {}
        self._dm_channels: dict[int, int] = {}

        # What the bot did, for assertions.
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[RecordedRequest] = []
        self.registered_commands: dict[int | None, list[dict[str, Any]]] = {}
        self.interactions: list[FakeInteraction] = []
        self.typing: list[tuple[float, int]] = []
        self.reactions: list[tuple[float, str, int, int, str]] = []  # (t, op, cid, mid, emoji)
        self.created_threads: list[FakeChannel] = []
        self.cdn_fetches: list[tuple[float, str]] = []
        self.dropped_events: list[tuple[str, str]] = []  # (event, reason)
        self.sessions: list[GatewaySession] = []
        self.presence_updates: list[dict[str, Any]] = []

        self._live: dict[int, GatewaySession] = {}
        self._by_session_id: dict[str, GatewaySession] = {}
        self._interactions_by_id: dict[int, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self._files: dict[str, _ServedFile] = {}
        self._rules: list[_Rule] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._restore: list[tuple[Any, str, Any]] = []
        self._pulse = _Pulse()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(client_max_size=1024**3)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{key}/{filename}", self._cdn)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        await self._flush()
        for session in list(self._live.values()):
            with contextlib.suppress(Exception):
                await session.ws.close(code=1000)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for obj, name, old in reversed(self._restore):
            setattr(obj, name, old)
        self._restore.clear()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def install(self, monkeypatch: Any = None) -> None:
        """Point discord.py at this server (``Route.BASE`` and ``DEFAULT_GATEWAY``).

        With pytest's ``monkeypatch`` it is restored at test teardown; without, at
        :meth:`stop`."""
        targets = [
            (discord.http.Route, "BASE", self.api_base),
            (discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(self.gateway_url)),
        ]
        for obj, name, value in targets:
            if monkeypatch is not None:
                monkeypatch.setattr(obj, name, value)
            else:
                self._restore.append((obj, name, getattr(obj, name)))
                setattr(obj, name, value)

    @contextlib.asynccontextmanager
    async def running(
        self,
        client: discord.Client,
        *,
        timeout: float = 10.0,
        wait_client_ready: bool = True,
        token: str | None = None,
    ) -> AsyncIterator[discord.Client]:
        """Run ``client.start(token)`` in a task; yield once connected (and, by default,
        after the client's own ``on_ready``); close the client and await the task on exit."""
        task = asyncio.create_task(
            client.start(self.token if token is None else token), name="fakediscord-client"
        )
        try:
            await self._wait_or_fail(self.wait_ready(timeout), task)
            if wait_client_ready:
                await self._wait_or_fail(asyncio.wait_for(client.wait_until_ready(), timeout), task)
            yield client
        except BaseException:
            await self._shutdown_client(client, task)
            raise
        else:
            error = await self._shutdown_client(client, task)
            if error is not None:
                raise error

    @staticmethod
    async def _shutdown_client(
        client: discord.Client, task: asyncio.Task[Any]
    ) -> BaseException | None:
        await client.close()
        done, _ = await asyncio.wait({task}, timeout=10)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return None
        return None if task.cancelled() else task.exception()

    @staticmethod
    async def _wait_or_fail(aw: Awaitable[Any], task: asyncio.Task[Any]) -> None:
        waiter = asyncio.ensure_future(aw)
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
        if waiter.done():
            waiter.result()
            return
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        exc = task.exception()
        raise RuntimeError("discord client stopped before it was ready") from exc

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        """Let gateway sends queued by synchronous helpers go out first (keeps order)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ world building
    def add_user(self, name: str, *, bot: bool = False) -> FakeUser:
        user = FakeUser(id=snowflake(), name=name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str = "Guild",
        *,
        channel_name: str = "general",
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
    ) -> FakeGuild:
        """A guild with a text channel (``guild.channel_id``) the bot is a member of. Guilds
        are spread round-robin over ``shard_count`` shards. Added while connected, it is sent
        as GUILD_CREATE (the bot 'joins')."""
        guild = FakeGuild(
            self,
            name=name,
            guild_id=snowflake_on_shard(len(self.guilds) % self.shard_count, self.shard_count),
            channel_name=channel_name,
            bot_permissions=bot_permissions,
            everyone_permissions=everyone_permissions,
        )
        self.guilds[guild.id] = guild
        session = self._session_for(guild.id)
        if session is not None and session.ready:
            payload = guild.create_payload(
                include_all_members=session.has_intent(INTENT_GUILD_MEMBERS)
            )
            self._spawn(session.dispatch("GUILD_CREATE", payload))
        return guild

    def _on_member_added(self, guild: FakeGuild, member: FakeMember) -> None:
        session = self._session_for(guild.id)
        if session is not None and session.ready and session.has_intent(INTENT_GUILD_MEMBERS):
            data = member.payload()
            data["guild_id"] = str(guild.id)
            self._spawn(session.dispatch("GUILD_MEMBER_ADD", data))

    def dm_channel(self, user: FakeUser | int) -> int:
        """The id of the DM channel between ``user`` and the bot (created on demand)."""
        uid = _id_of(user)
        if uid not in self._dm_channels:
            channel = FakeChannel(id=snowflake(), type=CHANNEL_DM, recipients=[self.users[uid]])
            self._channels[channel.id] = channel
            self._dm_channels[uid] = channel.id
        return self._dm_channels[uid]

    def channel(self, channel_id: int) -> FakeChannel:
        return self._channels[channel_id]

    def serve_file(
        self,
        path_or_bytes: str | Path | bytes,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
        *,
        status: int = 200,
        delay: float = 0.0,
    ) -> str:
        """Serve bytes (or a file's contents) and return its absolute URL on this server."""
        if isinstance(path_or_bytes, bytes):
            data = path_or_bytes
            filename = filename or "file.bin"
        else:
            p = Path(path_or_bytes)
            data = p.read_bytes()
            filename = filename or p.name
        key = uuid.uuid4().hex[:16]
        self._files[key] = _ServedFile(data, content_type, status, delay)
        return f"{self.base_url}/attachments/{key}/{quote(filename)}"

    def attachment(
        self,
        path_or_bytes: str | Path | bytes,
        filename: str | None = None,
        content_type: str | None = None,
        *,
        description: str | None = None,
    ) -> FakeAttachment:
        """A user attachment (for slash options of type 11 or ``send_message``)."""
        if isinstance(path_or_bytes, bytes):
            data, filename = path_or_bytes, filename or "file.bin"
        else:
            p = Path(path_or_bytes)
            data, filename = p.read_bytes(), filename or p.name
        url = self.serve_file(data, filename, content_type or "application/octet-stream")
        return FakeAttachment(
            id=snowflake(),
            filename=filename,
            data=data,
            url=url,
            content_type=content_type,
            description=description,
        )

    # ------------------------------------------------------------------ waiting / queries
    def _sessions_ready(self) -> bool:
        live = list(self._live.values())
        if not live:
            return False
        count = max(s.shard_count for s in live)
        return all(
            (s := self._live.get(i)) is not None and s.ready and not s.closed for i in range(count)
        )

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until every shard got READY and its GUILD_CREATEs."""
        await self._pulse.wait_for(
            self._sessions_ready,
            timeout,
            lambda: f"sessions={[(s.shard_id, s.ready, s.closed) for s in self.sessions]}",
        )

    async def wait_for_message(
        self,
        channel_id: int | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
        *,
        include_edits: bool = True,
    ) -> dict[str, Any]:
        """Wait for a message the bot posted via channel routes (optionally in a channel,
        matching ``predicate``; edited messages are re-checked). Returns the message dict."""

        def find() -> dict[str, Any] | None:
            for m in self.bot_messages(channel_id):
                if not include_edits and m.get("edit_history"):
                    continue
                if predicate is None or predicate(m):
                    return m
            return None

        return await self._pulse.wait_for(
            find,
            timeout,
            lambda: f"bot messages: {[m.get('content') for m in self.bot_messages(channel_id)]}",
        )

    async def wait_for_request(
        self, method: str, path_pattern: str, timeout: float = 10.0, *, after: float = 0.0
    ) -> RecordedRequest:
        """Wait for a REST call (``path_pattern`` is a regex searched in the path)."""
        pat = re.compile(path_pattern)

        def find() -> RecordedRequest | None:
            for r in self.requests:
                if r.time >= after and r.method == method and pat.search(r.path):
                    return r
            return None

        return await self._pulse.wait_for(
            find, timeout, lambda: f"requests: {[(r.method, r.path) for r in self.requests]}"
        )

    def find_requests(
        self, method: str | None = None, path_pattern: str | None = None
    ) -> list[RecordedRequest]:
        pat = re.compile(path_pattern) if path_pattern else None
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (pat is None or pat.search(r.path))
        ]

    def assert_no_unknown_routes(self) -> None:
        assert not self.unknown_routes, "unhandled routes: " + ", ".join(
            f"{r.method} {r.path}" for r in self.unknown_routes
        )

    @property
    def heartbeats(self) -> list[float]:
        """Monotonic receive times of every heartbeat (op 1), all shards, in order."""
        return sorted(t for s in self.sessions for t in s.heartbeats)

    def heartbeat_intervals(self, shard_id: int = 0) -> list[float]:
        times = sorted(t for s in self.sessions if s.shard_id == shard_id for t in s.heartbeats)
        return [b - a for a, b in itertools.pairwise(times)]

    async def wait_for_heartbeats(self, count: int, timeout: float = 10.0) -> list[float]:
        await self._pulse.wait_for(
            lambda: len(self.heartbeats) >= count,
            timeout,
            lambda: f"heartbeats so far: {len(self.heartbeats)}",
        )
        return self.heartbeats

    @property
    def identify(self) -> dict[str, Any] | None:
        """The latest IDENTIFY payload (``d``)."""
        for s in reversed(self.sessions):
            if s.identify is not None:
                return s.identify
        return None

    def message(self, message_id: int) -> dict[str, Any]:
        return self._messages[int(message_id)]

    def channel_history(self, channel_id: int) -> list[dict[str, Any]]:
        """Every message in the channel (users', bot's, non-ephemeral interaction ones)."""
        return [m for m in self._channels[channel_id].messages if not m.get("deleted")]

    def bot_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        channels = [self._channels[channel_id]] if channel_id else list(self._channels.values())
        return [
            m
            for c in channels
            for m in c.messages
            if int(m["author"]["id"]) == self.bot_user.id
            and "interaction_metadata" not in m
            and not m.get("deleted")
        ]

    def channel_messages(
        self, channel_id: int, *, include_interactions: bool = False
    ) -> list[dict[str, Any]]:
        """Messages the bot posted (POST/PATCH channel messages) in the channel, current
        state, oldest first. Each dict also carries ``allowed_mentions`` as last sent and
        ``edit_history``: ``[(monotonic_time, payload), ...]`` for each PATCH."""
        if include_interactions:
            return [
                m
                for m in self.channel_history(channel_id)
                if int(m["author"]["id"]) == self.bot_user.id
            ]
        return self.bot_messages(channel_id)

    # ------------------------------------------------------------------ fault injection
    def rate_limit(
        self,
        method: str,
        path_pattern: str,
        *,
        retry_after: float = 0.05,
        count: int = 1,
        is_global: bool = False,
    ) -> None:
        """The next ``count`` matching REST calls get a 429 discord.py retries (``Via``)."""
        self._rules.append(
            _Rule(
                method,
                re.compile(path_pattern),
                count,
                "ratelimit",
                status=429,
                body={
                    "message": "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": is_global,
                },
                headers={
                    "Via": "1.1 google",
                    "Retry-After": str(max(1, round(retry_after))),
                    "X-RateLimit-Scope": "global" if is_global else "user",
                },
            )
        )

    def fail(
        self,
        method: str,
        path_pattern: str,
        *,
        status: int = 500,
        code: int = 0,
        message: str = "fakediscord injected failure",
        count: int = 1,
    ) -> None:
        """The next ``count`` matching REST calls fail with ``status``."""
        self._rules.append(
            _Rule(
                method,
                re.compile(path_pattern),
                count,
                "error",
                status=status,
                body={"code": code, "message": message},
            )
        )

    def delay(
        self, method: str, path_pattern: str, seconds: float, *, count: int | None = None
    ) -> None:
        """Matching REST calls are answered ``seconds`` late (all of them if count is None)."""
        self._rules.append(_Rule(method, re.compile(path_pattern), count, "delay", seconds=seconds))

    async def request_reconnect(self, shard_id: int = 0) -> None:
        """Send op 7 RECONNECT; the client reconnects and RESUMEs."""
        session = self._live.get(shard_id)
        if session is None:
            raise RuntimeError(f"no live gateway session for shard {shard_id}")
        await session.send({"op": 7, "d": None})

    # ------------------------------------------------------------------ dispatching
    def _session_for(self, guild_id: int | None) -> GatewaySession | None:
        live = [s for s in self._live.values() if not s.closed]
        if not live:
            return None
        count = max(s.shard_count for s in live)
        shard = 0 if guild_id is None else (guild_id >> 22) % count
        return self._live.get(shard)

    async def dispatch(self, event: str, data: Any, *, guild_id: int | None = None) -> int:
        """Send a raw DISPATCH to the shard owning ``guild_id`` (shard 0 if None);
        returns its sequence number."""
        await self._flush()
        session = self._session_for(guild_id)
        if session is None or not session.ready:
            raise RuntimeError("no ready gateway session; start the client and wait_ready()")
        return await session.dispatch(event, data)

    async def _try_dispatch(self, event: str, data: Any, *, guild_id: int | None) -> None:
        session = self._session_for(guild_id)
        if session is None or not session.ready:
            return
        with contextlib.suppress(ConnectionError):
            await session.dispatch(event, data)

    # ------------------------------------------------------------------ user actions
    def _member_payload(
        self, guild: FakeGuild, user: FakeUser, *, with_user: bool
    ) -> dict[str, Any]:
        return guild.member(user).payload(
            with_user=with_user, permissions=guild.permissions_of(user)
        )

    def _channel_for(
        self, guild: FakeGuild | None, user: FakeUser, channel_id: int | None
    ) -> FakeChannel:
        if channel_id is not None:
            return self._channels[int(channel_id)]
        if guild is None:
            return self._channels[self.dm_channel(user)]
        return self._channels[guild.channel_id]

    async def send_message(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        content: str,
        *,
        mentions: Iterable[FakeUser | int] = (),
        reference: int | None = None,
        channel_id: int | None = None,
        attachments: Iterable[FakeAttachment] = (),
        ping_reply: bool = True,
    ) -> int:
        """A user posts a message (MESSAGE_CREATE). ``guild=None`` posts in the DM with the
        bot; ``channel_id`` picks another channel or a thread. ``<@id>`` mentions in the
        content are parsed; ``mentions`` adds more. Returns the message id."""
        await self._flush()
        channel = self._channel_for(guild, user, channel_id)
        if guild is not None:
            guild.member(user)  # must be a member
        ref_msg = self._messages.get(int(reference)) if reference is not None else None
        if reference is not None and ref_msg is None:
            raise KeyError(f"unknown referenced message {reference}")
        mention_ids = [int(x) for x in re.findall(r"<@!?(\d+)>", content)]
        mention_ids += [_id_of(m) for m in mentions]
        if ref_msg is not None and ping_reply:
            mention_ids.append(int(ref_msg["author"]["id"]))
        mention_ids = list(dict.fromkeys(mention_ids))
        role_ids = [int(x) for x in re.findall(r"<@&(\d+)>", content)]
        msg = self._new_message(
            channel,
            author=user,
            content=content,
            attachments=[a.payload() for a in attachments],
            mention_ids=mention_ids,
            mention_roles=role_ids,
            mention_everyone="@everyone" in content or "@here" in content,
            reference=ref_msg,
        )
        await self._deliver_user_message(msg, channel)
        return int(msg["id"])

    async def _deliver_user_message(self, msg: dict[str, Any], channel: FakeChannel) -> None:
        guild_id = channel.guild_id
        session = self._session_for(guild_id)
        if session is None or not session.ready:
            raise RuntimeError("no ready gateway session; start the client and wait_ready()")
        data = public_message(msg)
        if guild_id is not None:
            guild = self.guilds[guild_id]
            author = self.users[int(msg["author"]["id"])]
            if author.id in guild.members:
                data["member"] = guild.member(author).payload(with_user=False)
            data["mentions"] = [
                {**m, "member": guild.members[int(m["id"])].payload(with_user=False)}
                if int(m["id"]) in guild.members
                else m
                for m in data["mentions"]
            ]
        if self.enforce_intents:
            needed = INTENT_GUILD_MESSAGES if guild_id is not None else INTENT_DIRECT_MESSAGES
            if not session.has_intent(needed):
                self.dropped_events.append(("MESSAGE_CREATE", f"missing intent {needed}"))
                return
            mentioned = any(int(m["id"]) == self.bot_user.id for m in data["mentions"])
            if (
                guild_id is not None
                and not mentioned
                and not session.has_intent(INTENT_MESSAGE_CONTENT)
            ):
                data.update(content="", embeds=[], attachments=[], components=[])
                self.dropped_events.append(("MESSAGE_CREATE", "content blanked: no intent"))
        await session.dispatch("MESSAGE_CREATE", data)

    def _new_message(
        self,
        channel: FakeChannel,
        *,
        author: FakeUser,
        content: str = "",
        embeds: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        components: list[dict[str, Any]] | None = None,
        mention_ids: Iterable[int] = (),
        mention_roles: Iterable[int] = (),
        mention_everyone: bool = False,
        reference: dict[str, Any] | None = None,
        flags: int = 0,
        type: int = 0,
        extra: dict[str, Any] | None = None,
        store: bool = True,
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "id": str(snowflake()),
            "channel_id": str(channel.id),
            "author": author.payload(),
            "content": content,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": mention_everyone,
            "mentions": [self.users[u].payload() for u in mention_ids if u in self.users],
            "mention_roles": [str(r) for r in mention_roles],
            "attachments": attachments or [],
            "embeds": embeds or [],
            "pinned": False,
            "type": type,
            "flags": flags,
            "components": components or [],
            "created_monotonic": time.monotonic(),
        }
        if channel.guild_id is not None:
            msg["guild_id"] = str(channel.guild_id)
        if reference is not None:
            msg["type"] = 19 if type == 0 else type
            msg["message_reference"] = {
                "type": 0,
                "message_id": reference["id"],
                "channel_id": reference["channel_id"],
                "guild_id": reference.get("guild_id"),
            }
            ref = public_message(reference)
            ref.pop("referenced_message", None)
            msg["referenced_message"] = ref
        if extra:
            msg.update(extra)
        if store:
            channel.messages.append(msg)
            self._messages[int(msg["id"])] = msg
        return msg

    # ------------------------------------------------------------------ interactions
    def _find_command(
        self, name: str, guild: FakeGuild | None
    ) -> tuple[dict[str, Any] | None, bool]:
        if guild is not None:
            for cmd in self.registered_commands.get(guild.id, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, True
        for cmd in self.registered_commands.get(None, []):
            if cmd["name"] == name and cmd.get("type", 1) == 1:
                return cmd, False
        return None, False

    def _interaction_payload(
        self,
        type_: int,
        guild: FakeGuild | None,
        user: FakeUser,
        channel: FakeChannel,
        data: dict[str, Any],
        locale: str,
    ) -> tuple[dict[str, Any], int, str]:
        iid = snowflake()
        token = interaction_token()
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": self.attachment_size_limit,
            "channel_id": str(channel.id),
            "channel": channel.payload(),
        }
        if guild is not None:
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "member": self._member_payload(guild, user, with_user=True),
                    "app_permissions": str(guild.bot_permissions),
                    "authorizing_integration_owners": {"0": str(guild.id)},
                    "context": 0,
                }
            )
        else:
            payload.update(
                {
                    "user": user.payload(),
                    "app_permissions": str(DEFAULT_BOT_PERMISSIONS),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        return payload, iid, token

    def _build_options(
        self,
        values: Mapping[str, Any],
        schema: list[dict[str, Any]] | None,
        guild: FakeGuild | None,
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        types = {o["name"]: o.get("type") for o in schema or []}
        out: list[dict[str, Any]] = []
        for name, value in values.items():
            out.append(
                self._convert_option(name, value, types.get(name), guild, resolved, name == focused)
            )
        return out

    def _convert_option(
        self,
        name: str,
        value: Any,
        otype: int | None,
        guild: FakeGuild | None,
        resolved: dict[str, dict[str, Any]],
        focused: bool,
    ) -> dict[str, Any]:
        opt: dict[str, Any] = {"name": name}
        if focused:
            opt["focused"] = True
        if isinstance(value, (bytes, Path)) and otype in (None, 11):
            value = self.attachment(value)
        if isinstance(value, FakeAttachment):
            opt.update(type=11, value=str(value.id))
            resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
        elif isinstance(value, FakeUser):
            opt.update(type=otype if otype in (6, 9) else 6, value=str(value.id))
            resolved.setdefault("users", {})[str(value.id)] = value.payload()
            if guild is not None and value.id in guild.members:
                resolved.setdefault("members", {})[str(value.id)] = self._member_payload(
                    guild, value, with_user=False
                )
        elif isinstance(value, FakeRole):
            opt.update(type=otype if otype in (8, 9) else 8, value=str(value.id))
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
        elif isinstance(value, FakeChannel) or otype == 7:
            channel = value if isinstance(value, FakeChannel) else self._channels[int(value)]
            opt.update(type=7, value=str(channel.id))
            cdata = channel.payload()
            cdata["permissions"] = str(guild.permissions_of(self.bot_user) if guild else 0)
            resolved.setdefault("channels", {})[str(channel.id)] = cdata
        elif focused:
            opt.update(type=otype or 3, value=value if isinstance(value, str) else str(value))
        elif otype == 3 or (otype is None and isinstance(value, str)):
            opt.update(type=3, value=str(value))
        elif otype == 5 or (otype is None and isinstance(value, bool)):
            opt.update(type=5, value=bool(value))
        elif otype == 4 or (otype is None and isinstance(value, int)):
            opt.update(type=4, value=int(value))
        elif otype == 10 or (otype is None and isinstance(value, float)):
            opt.update(type=10, value=float(value))
        else:
            raise TypeError(f"cannot encode option {name}={value!r} (type {otype})")
        return opt

    def _command_data(
        self,
        name: str,
        options: Mapping[str, Any] | None,
        guild: FakeGuild | None,
        focused: str | None = None,
    ) -> tuple[dict[str, Any], str]:
        parts = name.split()
        cmd, is_guild_cmd = self._find_command(parts[0], guild)
        resolved: dict[str, dict[str, Any]] = {}
        schema = cmd.get("options") if cmd else None
        # Walk "group sub" paths down the registered schema.
        chain: list[tuple[str, int]] = []
        for part in parts[1:]:
            sub = next((o for o in schema or [] if o["name"] == part), None)
            chain.append((part, sub["type"] if sub else (1 if part == parts[-1] else 2)))
            schema = sub.get("options") if sub else None
        leaf = self._build_options(options or {}, schema, guild, resolved, focused)
        for part, otype in reversed(chain):
            leaf = [{"type": otype, "name": part, "options": leaf}]
        data: dict[str, Any] = {
            "id": cmd["id"] if cmd else str(snowflake()),
            "name": parts[0],
            "type": 1,
            "options": leaf,
        }
        if resolved:
            data["resolved"] = resolved
        if is_guild_cmd and guild is not None:
            data["guild_id"] = str(guild.id)
        return data, name

    async def _start_interaction(
        self,
        type_: int,
        guild: FakeGuild | None,
        user: FakeUser,
        data: dict[str, Any],
        name: str,
        channel_id: int | None,
        locale: str,
        target_message: dict[str, Any] | None = None,
    ) -> FakeInteraction:
        await self._flush()
        channel = self._channel_for(guild, user, channel_id)
        payload, iid, token = self._interaction_payload(type_, guild, user, channel, data, locale)
        if target_message is not None:
            payload["message"] = public_message(target_message)
        inter = FakeInteraction(
            self,
            interaction_id=iid,
            token=token,
            type=type_,
            name=name,
            guild=guild,
            user=user,
            channel_id=channel.id,
            payload=payload,
            target_message=target_message,
        )
        self.interactions.append(inter)
        self._interactions_by_id[iid] = inter
        self._interactions_by_token[token] = inter
        inter.dispatched_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=guild.id if guild else None)
        return inter

    async def slash(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel_id: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Dispatch a chat-input command (INTERACTION_CREATE type 2). ``name`` may be
        ``"group sub"``. Option types come from the registered command (else from the Python
        value): str, int, float, bool, FakeUser, FakeRole, FakeChannel/channel id,
        FakeAttachment / bytes / Path (attachment, put into ``data.resolved``).
        ``guild=None`` runs it in the bot's DM."""
        data, full = self._command_data(name, options, guild)
        return await self._start_interaction(2, guild, user, data, full, channel_id, locale)

    async def autocomplete(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        channel_id: int | None = None,
        timeout: float = 3.0,
    ) -> list[dict[str, Any]]:
        """Dispatch an autocomplete interaction (type 4) with ``focused`` option; return the
        choices the bot answered with (callback type 8)."""
        inter = await self.start_autocomplete(
            guild, user, name, options, focused=focused, channel_id=channel_id
        )
        return await inter.wait_choices(timeout)

    async def start_autocomplete(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        channel_id: int | None = None,
    ) -> FakeInteraction:
        if focused not in options:
            raise KeyError(f"focused option {focused!r} not in options")
        data, full = self._command_data(name, options, guild, focused=focused)
        return await self._start_interaction(4, guild, user, data, full, channel_id, "en-US")

    async def component(
        self,
        guild: FakeGuild | None,
        user: FakeUser,
        message_id: int,
        custom_id: str,
        *,
        component_type: int = 2,
        values: list[str] | None = None,
    ) -> FakeInteraction:
        """A user clicks a button / picks from a select on a bot message (type 3)."""
        msg = self._messages[int(message_id)]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        return await self._start_interaction(
            3, guild, user, data, custom_id, int(msg["channel_id"]), "en-US", target_message=msg
        )

    # ------------------------------------------------------------------ HTTP plumbing
    async def _parse_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        files: list[UploadedFile] = []
        body: Any = None
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):  # nested multipart: ignore
                    continue
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                else:
                    raw = await part.read(decode=False)
                    files.append(
                        UploadedFile(
                            field=part.name or "",
                            filename=part.filename or "file",
                            content_type=part.headers.get("Content-Type"),
                            data=bytes(raw),
                        )
                    )
        elif request.body_exists:
            raw_body = await request.read()
            if raw_body:
                try:
                    body = json.loads(raw_body)
                except ValueError:
                    body = raw_body.decode(errors="replace")
        return body, files

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        body, files = await self._parse_body(request)
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            time=time.monotonic(),
        )
        self.requests.append(record)
        try:
            response = await self._route(
                request, _Req(request.method, path, record.query, body, files, record)
            )
        except Exception as exc:  # a bug in the fake: make it loud, not a hang
            log.exception("fakediscord handler crashed for %s %s", request.method, path)
            response = error_response(500, 0, f"fakediscord internal error: {exc!r}")
        record.status = response.status
        self._pulse.notify()
        return response

    async def _route(self, request: web.Request, req: _Req) -> web.StreamResponse:
        for rule in self._rules:
            if rule.matches(req.method, req.path):
                if rule.remaining is not None:
                    rule.remaining -= 1
                if rule.kind == "delay":
                    await asyncio.sleep(rule.seconds)
                    continue
                return json_response(rule.body, status=rule.status, headers=rule.headers)
        for method, pattern, handler_name in _ROUTES:
            if method != req.method:
                continue
            m = pattern.match(req.path)
            if m is None:
                continue
            if (
                handler_name not in _TOKEN_ROUTES
                and request.headers.get("Authorization") != f"Bot {self.token}"
            ):
                return error_response(401, 0, "401: Unauthorized")
            handler: _Handler = getattr(self, handler_name)
            return await handler(req, **m.groupdict())
        return self._not_found(req.record)

    def _not_found(self, record: RecordedRequest) -> web.Response:
        self.unknown_routes.append(record)
        log.warning("fakediscord: no route for %s %s", record.method, record.path)
        return error_response(
            404, 0, f"404: Not Found (fakediscord has no route for {record.method} {record.path})"
        )

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            json=None,
            files=[],
            headers=dict(request.headers),
            time=time.monotonic(),
            status=404,
        )
        self.requests.append(record)
        self._pulse.notify()
        return self._not_found(record)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        served = self._files.get(request.match_info["key"])
        self.cdn_fetches.append((time.monotonic(), request.path))
        self._pulse.notify()
        if served is None:
            return web.Response(status=404, text="not found")
        if served.delay:
            await asyncio.sleep(served.delay)
        # As a header, so a content type with parameters ("text/plain; charset=utf-8",
        # what Discord stores for text attachments) is served as is.
        return web.Response(
            body=served.data, status=served.status, headers={"Content-Type": served.content_type}
        )

    # ------------------------------------------------------------------ REST: identity
    async def _h_me(self, req: _Req) -> web.StreamResponse:
        data = self.bot_user.payload()
        data.update(verified=True, mfa_enabled=False, email=None, locale="en-US")
        return json_response(data)

    async def _h_user(self, req: _Req, user_id: str) -> web.StreamResponse:
        user = self.users.get(int(user_id))
        if user is None:
            return error_response(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def _h_create_dm(self, req: _Req) -> web.StreamResponse:
        uid = int((req.json or {}).get("recipient_id", 0))
        if uid not in self.users:
            return error_response(400, 50035, "Invalid Form Body")
        return json_response(self._channels[self.dm_channel(uid)].payload())

    async def _h_app_info(self, req: _Req) -> web.StreamResponse:
        return json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_user.name,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner_user.payload(),
                "verify_key": "0" * 64,
                "team": None,
                "flags": 0,
                "bot": self.bot_user.payload(),
                "summary": "",
                "rpc_origins": [],
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
            }
        )

    async def _h_gateway(self, req: _Req) -> web.StreamResponse:
        return json_response({"url": self.gateway_url})

    async def _h_gateway_bot(self, req: _Req) -> web.StreamResponse:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": self.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        )

    # ------------------------------------------------------------------ REST: commands
    def _check_app(self, app: str) -> web.Response | None:
        if int(app) != self.application_id:
            return error_response(403, 50001, "Missing Access")
        return None

    async def _h_get_commands(
        self, req: _Req, app: str, guild_id: str | None = None
    ) -> web.StreamResponse:
        key = int(guild_id) if guild_id else None
        return self._check_app(app) or json_response(self.registered_commands.get(key, []))

    def _echo_command(
        self, cmd: dict[str, Any], key: int | None, old: list[dict[str, Any]]
    ) -> dict[str, Any]:
        prev = next(
            (c for c in old if c["name"] == cmd["name"] and c.get("type", 1) == cmd.get("type", 1)),
            None,
        )
        out = dict(cmd)
        out.setdefault("type", 1)
        out.setdefault("description", "")
        out.setdefault("options", [])
        out.setdefault("default_member_permissions", None)
        out.setdefault("nsfw", False)
        out.update(
            id=prev["id"] if prev else str(snowflake()),
            application_id=str(self.application_id),
            version=str(snowflake()),
        )
        if key is not None:
            out["guild_id"] = str(key)
        return out

    async def _h_put_commands(
        self, req: _Req, app: str, guild_id: str | None = None
    ) -> web.StreamResponse:
        bad = self._check_app(app)
        if bad:
            return bad
        key = int(guild_id) if guild_id else None
        if key is not None and key not in self.guilds:
            return error_response(403, 50001, "Missing Access")
        commands = req.json if isinstance(req.json, list) else []
        if self.strict:
            problems = validate_commands(commands)
            if problems:
                return self._invalid_form(problems)
        old = self.registered_commands.get(key, [])
        self.registered_commands[key] = [self._echo_command(c, key, old) for c in commands]
        return json_response(self.registered_commands[key])

    async def _h_post_command(
        self, req: _Req, app: str, guild_id: str | None = None
    ) -> web.StreamResponse:
        bad = self._check_app(app)
        if bad:
            return bad
        key = int(guild_id) if guild_id else None
        cmd = req.json or {}
        if self.strict:
            problems = validate_commands([cmd])
            if problems:
                return self._invalid_form(problems)
        old = self.registered_commands.get(key, [])
        new = self._echo_command(cmd, key, old)
        self.registered_commands[key] = [c for c in old if c["id"] != new["id"]] + [new]
        return json_response(new, status=201)

    @staticmethod
    def _invalid_form(problems: list[str]) -> web.Response:
        errors = {
            p.split(":", 1)[0]: {"_errors": [{"code": "FAKEDISCORD_INVALID", "message": p}]}
            for p in problems
        }
        return error_response(400, 50035, "Invalid Form Body", errors)

    # ------------------------------------------------------------------ REST: interactions
    def _lookup_token(self, app: str, token: str) -> FakeInteraction | web.Response:
        inter = self._interactions_by_token.get(token)
        if inter is None or int(app) != self.application_id:
            return error_response(404, 10015, "Unknown Webhook")
        if time.monotonic() - inter.dispatched_at > self.token_ttl:
            inter.rejected.append((time.monotonic(), "token expired", None))
            inter._changed()
            return error_response(401, 50027, "Invalid Webhook Token")
        return inter

    def _check_message_payload(
        self,
        payload: dict[str, Any],
        files: list[UploadedFile],
        *,
        base: dict[str, Any] | None = None,
    ) -> web.Response | None:
        too_big = [f.filename for f in files if len(f.data) > self.attachment_size_limit]
        if too_big:
            return error_response(413, 40005, f"Request entity too large: {too_big}")
        if not self.strict:
            return None
        merged = {
            **(base or {}),
            **{k: v for k, v in payload.items() if k in ("content", "embeds")},
        }
        problems = validate_message(merged)
        if problems:
            return self._invalid_form(problems)
        has_body = (
            merged.get("content")
            or merged.get("embeds")
            or files
            or payload.get("components")
            or payload.get("sticker_ids")
            or payload.get("poll")
            or (base or {}).get("attachments")
        )
        if not has_body:
            return error_response(400, 50006, "Cannot send an empty message")
        return None

    def _attachments_from_files(
        self, files: list[UploadedFile], payload: dict[str, Any]
    ) -> list[dict[str, Any]]:
        meta = {str(a.get("id")): a for a in payload.get("attachments") or []}
        out = []
        for i, f in enumerate(files):
            index = re.sub(r"\D", "", f.field) or str(i)
            info = meta.get(index, {})
            filename = info.get("filename") or f.filename
            ctype = (
                f.content_type if f.content_type not in (None, "application/octet-stream") else None
            )
            url = self.serve_file(f.data, filename, ctype or "application/octet-stream")
            att = FakeAttachment(
                id=snowflake(),
                filename=filename,
                data=f.data,
                url=url,
                content_type=ctype,
                description=info.get("description"),
            )
            out.append(att.payload())
        return out

    def _mentions_for(
        self, content: str, allowed: dict[str, Any] | None, reference: dict[str, Any] | None
    ) -> dict[str, Any]:
        replied = int(reference["author"]["id"]) if reference else None
        users, roles, everyone = resolve_mentions(content, allowed, replied_user_id=replied)
        return {
            "mentions": [self.users[u].payload() for u in users if u in self.users],
            "mention_roles": [str(r) for r in roles],
            "mention_everyone": everyone,
        }

    def _apply_edit(
        self, msg: dict[str, Any], payload: dict[str, Any], files: list[UploadedFile]
    ) -> None:
        if "content" in payload:
            msg["content"] = payload["content"] or ""
        for key in ("embeds", "components"):
            if key in payload:
                msg[key] = payload[key] or []
        if "flags" in payload and payload["flags"] is not None:
            msg["flags"] = (msg.get("flags", 0) & FLAG_EPHEMERAL) | int(payload["flags"])
        if "attachments" in payload:
            keep_ids = {str(a.get("id")) for a in payload["attachments"] or []}
            msg["attachments"] = [a for a in msg["attachments"] if a["id"] in keep_ids]
        msg["attachments"] = msg["attachments"] + self._attachments_from_files(files, payload)
        if "allowed_mentions" in payload:
            msg["allowed_mentions"] = payload["allowed_mentions"]
        ref = msg.get("referenced_message")
        msg.update(self._mentions_for(msg["content"], msg.get("allowed_mentions"), ref))
        msg.setdefault("edit_history", []).append((time.monotonic(), payload))

    def _interaction_message(
        self,
        inter: FakeInteraction,
        payload: dict[str, Any],
        files: list[UploadedFile],
        *,
        flags: int,
    ) -> dict[str, Any]:
        channel = self._channels[inter.channel_id]
        ephemeral = bool(flags & FLAG_EPHEMERAL)
        msg = self._new_message(
            channel,
            author=self.bot_user,
            content=payload.get("content") or "",
            embeds=payload.get("embeds") or [],
            components=payload.get("components") or [],
            attachments=self._attachments_from_files(files, payload),
            flags=flags,
            type=20 if inter.type == 2 else 0,
            extra={
                "webhook_id": str(self.application_id),
                "application_id": str(self.application_id),
                "interaction_metadata": {
                    "id": str(inter.id),
                    "type": inter.type,
                    "user": inter.user.payload(),
                    "authorizing_integration_owners": inter.payload.get(
                        "authorizing_integration_owners", {}
                    ),
                    "name": inter.name,
                },
            },
            store=False,
        )
        msg.update(self._mentions_for(msg["content"], payload.get("allowed_mentions"), None))
        if "allowed_mentions" in payload:
            msg["allowed_mentions"] = payload["allowed_mentions"]
        self._messages[int(msg["id"])] = msg
        if not ephemeral:
            channel.messages.append(msg)
        return msg

    async def _h_callback(self, req: _Req, iid: str, token: str) -> web.StreamResponse:
        inter = self._interactions_by_id.get(int(iid))
        if inter is None or inter.token != token:
            return error_response(404, 10062, "Unknown interaction")
        now = time.monotonic()
        body = req.json if isinstance(req.json, dict) else {}
        if self.ack_timeout is not None and now - inter.dispatched_at > self.ack_timeout:
            inter.rejected.append((now, f"late ack after {now - inter.dispatched_at:.2f}s", body))
            inter._changed()
            return error_response(404, 10062, "Unknown interaction")
        if inter.acked:
            inter.rejected.append((now, "already acknowledged", body))
            inter._changed()
            return error_response(400, 40060, "Interaction has already been acknowledged.")
        cb_type = int(body.get("type", 0))
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        message: dict[str, Any] | None = None
        if cb_type == 4:
            bad = self._check_message_payload(data, req.files)
            if bad:
                inter.rejected.append((now, "invalid response message", body))
                inter._changed()
                return bad
            message = inter.original = self._interaction_message(
                inter, data, req.files, flags=flags
            )
        elif cb_type == 5:
            message = inter.original = self._interaction_message(
                inter, {}, [], flags=(flags & FLAG_EPHEMERAL) | FLAG_LOADING
            )
        elif cb_type in (6, 7):
            if inter.target_message is None:
                return error_response(400, 50035, "Invalid Form Body: no message to update")
            message = inter.original = inter.target_message
            if cb_type == 7:
                self._apply_edit(message, data, req.files)
                inter.edits.append((now, data))
        elif cb_type == 8:
            inter.choices = list(data.get("choices") or [])
        elif cb_type == 9:
            inter.modal = data
        else:
            return error_response(400, 50035, f"Invalid Form Body: callback type {cb_type}")
        inter.ack_type = cb_type
        inter.ack_at = now
        inter.ack_payload = body
        inter.ephemeral = bool(message and message["flags"] & FLAG_EPHEMERAL)
        inter._changed()
        if req.query.get("with_response") not in ("1", "true", "True"):
            return no_content()
        interaction_info: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "response_message_loading": cb_type == 5,
            "response_message_ephemeral": inter.ephemeral,
        }
        resource: dict[str, Any] = {"type": cb_type}
        if message is not None:
            interaction_info["response_message_id"] = message["id"]
            resource["message"] = public_message(message)
        return json_response({"interaction": interaction_info, "resource": resource})

    def _webhook_message(self, inter: FakeInteraction, mid: str) -> dict[str, Any] | web.Response:
        if mid == "@original":
            if inter.original is None or inter.original_deleted:
                return error_response(404, 10008, "Unknown Message")
            return inter.original
        for m in inter.followups:
            if m["id"] == mid and not m.get("deleted"):
                return m
        if inter.original is not None and inter.original["id"] == mid:
            return inter.original
        return error_response(404, 10008, "Unknown Message")

    async def _h_wh_get(self, req: _Req, app: str, token: str, mid: str) -> web.StreamResponse:
        inter = self._lookup_token(app, token)
        if isinstance(inter, web.Response):
            return inter
        msg = self._webhook_message(inter, mid)
        return msg if isinstance(msg, web.Response) else json_response(public_message(msg))

    async def _h_wh_edit(self, req: _Req, app: str, token: str, mid: str) -> web.StreamResponse:
        inter = self._lookup_token(app, token)
        if isinstance(inter, web.Response):
            return inter
        msg = self._webhook_message(inter, mid)
        if isinstance(msg, web.Response):
            return msg
        payload = req.json if isinstance(req.json, dict) else {}
        bad = self._check_message_payload(payload, req.files, base=msg)
        if bad:
            inter.rejected.append((time.monotonic(), "invalid edit", payload))
            inter._changed()
            return bad
        was_loading = bool(msg.get("flags", 0) & FLAG_LOADING)
        self._apply_edit(msg, payload, req.files)
        if was_loading:
            msg["flags"] &= ~FLAG_LOADING
        else:
            msg["edited_timestamp"] = iso_now()
        if msg is inter.original:
            inter.edits.append((time.monotonic(), payload))
        inter._changed()
        return json_response(public_message(msg))

    async def _h_wh_delete(self, req: _Req, app: str, token: str, mid: str) -> web.StreamResponse:
        inter = self._lookup_token(app, token)
        if isinstance(inter, web.Response):
            return inter
        msg = self._webhook_message(inter, mid)
        if isinstance(msg, web.Response):
            return msg
        msg["deleted"] = True
        if msg is inter.original:
            inter.original_deleted = True
        inter._changed()
        return no_content()

    async def _h_wh_followup(self, req: _Req, app: str, token: str) -> web.StreamResponse:
        inter = self._lookup_token(app, token)
        if isinstance(inter, web.Response):
            return inter
        if not inter.acked:
            inter.rejected.append((time.monotonic(), "followup before ack", req.json))
            inter._changed()
            return error_response(404, 10015, "Unknown Webhook")
        payload = req.json if isinstance(req.json, dict) else {}
        bad = self._check_message_payload(payload, req.files)
        if bad:
            inter.rejected.append((time.monotonic(), "invalid followup", payload))
            inter._changed()
            return bad
        if inter.loading and inter.original is not None and not inter.edits:
            # Discord: the first follow-up after a defer replaces the 'thinking…' message
            # (ephemerality was fixed by the defer).
            msg = inter.original
            self._apply_edit(msg, {**payload, "flags": None}, req.files)
            msg["flags"] &= ~FLAG_LOADING
        else:
            flags = int(payload.get("flags") or 0)
            msg = self._interaction_message(inter, payload, req.files, flags=flags)
        inter.followups.append(msg)
        inter._changed()
        if req.query.get("wait") in ("1", "true", "True"):
            return json_response(public_message(msg))
        return no_content()

    # ------------------------------------------------------------------ REST: channels
    def _get_channel(self, cid: str) -> FakeChannel | web.Response:
        channel = self._channels.get(int(cid))
        if channel is None:
            return error_response(404, 10003, "Unknown Channel")
        return channel

    async def _h_get_channel(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        return channel if isinstance(channel, web.Response) else json_response(channel.payload())

    async def _h_history(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        if isinstance(channel, web.Response):
            return channel
        limit = int(req.query.get("limit", 50))
        msgs = [m for m in channel.messages if not m.get("deleted")]
        if "before" in req.query:
            msgs = [m for m in msgs if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            msgs = [m for m in msgs if int(m["id"]) > int(req.query["after"])]
            # Discord returns newest first; discord.py reverses 'after' pages itself.
        msgs = list(reversed(msgs))[:limit]
        return json_response([public_message(m) for m in msgs])

    async def _h_get_message(self, req: _Req, cid: str, mid: str) -> web.StreamResponse:
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid or msg.get("deleted"):
            return error_response(404, 10008, "Unknown Message")
        return json_response(public_message(msg))

    async def _h_create_message(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        if isinstance(channel, web.Response):
            return channel
        payload = req.json if isinstance(req.json, dict) else {}
        bad = self._check_message_payload(payload, req.files)
        if bad:
            return bad
        ref_info = payload.get("message_reference")
        reference = None
        if ref_info:
            reference = self._messages.get(int(ref_info.get("message_id", 0)))
            if reference is None and ref_info.get("fail_if_not_exists", True):
                return error_response(
                    400,
                    50035,
                    "Invalid Form Body",
                    {
                        "message_reference": {
                            "_errors": [
                                {"code": "REPLIES_UNKNOWN_MESSAGE", "message": "Unknown message"}
                            ]
                        }
                    },
                )
        msg = self._new_message(
            channel,
            author=self.bot_user,
            content=payload.get("content") or "",
            embeds=payload.get("embeds") or [],
            components=payload.get("components") or [],
            attachments=self._attachments_from_files(req.files, payload),
            flags=int(payload.get("flags") or 0),
            reference=reference,
        )
        msg["tts"] = bool(payload.get("tts"))
        if "allowed_mentions" in payload:
            msg["allowed_mentions"] = payload["allowed_mentions"]
        msg.update(self._mentions_for(msg["content"], payload.get("allowed_mentions"), reference))
        self._pulse.notify()
        if self.echo_bot_messages:
            await self._try_dispatch(
                "MESSAGE_CREATE", public_message(msg), guild_id=channel.guild_id
            )
        return json_response(public_message(msg))

    async def _h_edit_message(self, req: _Req, cid: str, mid: str) -> web.StreamResponse:
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid or msg.get("deleted"):
            return error_response(404, 10008, "Unknown Message")
        if int(msg["author"]["id"]) != self.bot_user.id:
            return error_response(403, 50005, "Cannot edit a message authored by another user")
        payload = req.json if isinstance(req.json, dict) else {}
        bad = self._check_message_payload(payload, req.files, base=msg)
        if bad:
            return bad
        self._apply_edit(msg, payload, req.files)
        msg["edited_timestamp"] = iso_now()
        self._pulse.notify()
        if self.echo_bot_messages:
            await self._try_dispatch(
                "MESSAGE_UPDATE", public_message(msg), guild_id=self._channels[int(cid)].guild_id
            )
        return json_response(public_message(msg))

    async def _h_delete_message(self, req: _Req, cid: str, mid: str) -> web.StreamResponse:
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid or msg.get("deleted"):
            return error_response(404, 10008, "Unknown Message")
        msg["deleted"] = True
        return no_content()

    async def _h_typing(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        if isinstance(channel, web.Response):
            return channel
        self.typing.append((time.monotonic(), channel.id))
        return no_content()

    async def _reaction(self, op: str, cid: str, mid: str, emoji: str) -> web.StreamResponse:
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid:
            return error_response(404, 10008, "Unknown Message")
        self.reactions.append((time.monotonic(), op, int(cid), int(mid), unquote(emoji)))
        return no_content()

    async def _h_add_reaction(
        self, req: _Req, cid: str, mid: str, emoji: str
    ) -> web.StreamResponse:
        return await self._reaction("add", cid, mid, emoji)

    async def _h_remove_reaction(
        self, req: _Req, cid: str, mid: str, emoji: str
    ) -> web.StreamResponse:
        return await self._reaction("remove", cid, mid, emoji)

    async def _make_thread(
        self, parent: FakeChannel, payload: dict[str, Any], *, thread_id: int | None, ttype: int
    ) -> web.StreamResponse:
        if parent.guild_id is None or parent.is_thread:
            return error_response(400, 50024, "Cannot execute action on this channel type")
        name = (payload.get("name") or "").strip()
        if not 1 <= len(name) <= 100:
            return self._invalid_form([f"name: must be 1-100 in length (got {len(name)})"])
        thread = FakeChannel(
            id=thread_id or snowflake(),
            type=ttype,
            name=name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_user.id,
            auto_archive_duration=int(payload.get("auto_archive_duration") or 1440),
        )
        guild = self.guilds[parent.guild_id]
        guild.threads[thread.id] = thread
        self._channels[thread.id] = thread
        self.created_threads.append(thread)
        self._pulse.notify()
        data = thread.payload()
        await self._try_dispatch(
            "THREAD_CREATE", {**data, "newly_created": True}, guild_id=parent.guild_id
        )
        data["member"] = {
            "id": str(thread.id),
            "user_id": str(self.bot_user.id),
            "join_timestamp": iso_now(),
            "flags": 0,
        }
        return json_response(data, status=201)

    async def _h_thread_from_message(self, req: _Req, cid: str, mid: str) -> web.StreamResponse:
        parent = self._get_channel(cid)
        if isinstance(parent, web.Response):
            return parent
        msg = self._messages.get(int(mid))
        if msg is None or msg["channel_id"] != cid:
            return error_response(404, 10008, "Unknown Message")
        if int(mid) in self._channels:
            return error_response(400, 160004, "A thread has already been created for this message")
        payload = req.json if isinstance(req.json, dict) else {}
        response = await self._make_thread(
            parent, payload, thread_id=int(mid), ttype=CHANNEL_PUBLIC_THREAD
        )
        if response.status == 201:
            msg["flags"] = msg.get("flags", 0) | FLAG_HAS_THREAD
            msg["thread"] = self._channels[int(mid)].payload()
        return response

    async def _h_thread(self, req: _Req, cid: str) -> web.StreamResponse:
        parent = self._get_channel(cid)
        if isinstance(parent, web.Response):
            return parent
        payload = req.json if isinstance(req.json, dict) else {}
        ttype = int(payload.get("type") or CHANNEL_PRIVATE_THREAD)
        return await self._make_thread(parent, payload, thread_id=None, ttype=ttype)

    async def _h_thread_join(self, req: _Req, cid: str) -> web.StreamResponse:
        channel = self._get_channel(cid)
        return channel if isinstance(channel, web.Response) else no_content()

    # ------------------------------------------------------------------ REST: guilds
    def _get_guild(self, guild_id: str) -> FakeGuild | web.Response:
        guild = self.guilds.get(int(guild_id))
        if guild is None:
            return error_response(404, 10004, "Unknown Guild")
        return guild

    async def _h_get_guild(self, req: _Req, guild_id: str) -> web.StreamResponse:
        guild = self._get_guild(guild_id)
        return guild if isinstance(guild, web.Response) else json_response(guild.payload())

    async def _h_guild_channels(self, req: _Req, guild_id: str) -> web.StreamResponse:
        guild = self._get_guild(guild_id)
        if isinstance(guild, web.Response):
            return guild
        return json_response([c.payload() for c in guild.channels.values()])

    async def _h_guild_roles(self, req: _Req, guild_id: str) -> web.StreamResponse:
        guild = self._get_guild(guild_id)
        if isinstance(guild, web.Response):
            return guild
        return json_response([r.payload() for r in guild.roles.values()])

    async def _h_guild_member(self, req: _Req, guild_id: str, user_id: str) -> web.StreamResponse:
        guild = self._get_guild(guild_id)
        if isinstance(guild, web.Response):
            return guild
        member = guild.members.get(int(user_id))
        if member is None:
            return error_response(404, 10007, "Unknown Member")
        return json_response(member.payload())

    # ------------------------------------------------------------------ gateway
    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        session = GatewaySession(self, ws)
        self.sessions.append(session)
        try:
            await session.send(
                {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": []}}
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_gateway_message(session, json.loads(msg.data))
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionError:
            pass
        finally:
            session.closed = True
            if self._live.get(session.shard_id) is session:
                del self._live[session.shard_id]
            self._pulse.notify()
        return ws

    async def _on_gateway_message(self, session: GatewaySession, payload: dict[str, Any]) -> None:
        now = time.monotonic()
        session.received.append((now, payload))
        op = payload.get("op")
        d = payload.get("d")
        if op == 1:
            session.heartbeats.append(now)
            self._pulse.notify()
            if self.ack_heartbeats:
                await session.send({"op": 11})
        elif op == 2:
            await self._on_identify(session, d or {})
        elif op == 6:
            await self._on_resume(session, d or {})
        elif op == 8:
            await self._on_request_members(session, d or {})
        elif op == 3:
            self.presence_updates.append(d or {})
        else:
            log.debug("fakediscord: ignoring gateway op %s", op)

    async def _on_identify(self, session: GatewaySession, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        if int(d.get("intents") or 0) & self.refused_intents:
            await session.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = d.get("shard")
        session.shard_id, session.shard_count = (int(shard[0]), int(shard[1])) if shard else (0, 1)
        session.intents = int(d.get("intents") or 0)
        session.identify = d
        self._live[session.shard_id] = session
        self._by_session_id[session.session_id] = session
        guilds = [
            g
            for g in self.guilds.values()
            if (g.id >> 22) % session.shard_count == session.shard_id
        ]
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ["fakediscord"],
        }
        if shard:
            ready["shard"] = [session.shard_id, session.shard_count]
        await session.dispatch("READY", ready)
        include_members = session.has_intent(INTENT_GUILD_MEMBERS)
        for g in guilds:
            await session.dispatch(
                "GUILD_CREATE", g.create_payload(include_all_members=include_members)
            )
        session.ready = True
        self._pulse.notify()

    async def _on_resume(self, session: GatewaySession, d: dict[str, Any]) -> None:
        old = self._by_session_id.get(str(d.get("session_id")))
        if old is None or d.get("token") != self.token:
            await session.send({"op": 9, "d": False})
            return
        session.session_id = old.session_id
        session.seq = old.seq
        session.shard_id, session.shard_count = old.shard_id, old.shard_count
        session.intents = old.intents
        session.identify = old.identify
        session.resumed = True
        self._live[session.shard_id] = session
        self._by_session_id[session.session_id] = session
        await session.dispatch("RESUMED", {"_trace": ["fakediscord"]})
        session.ready = True
        self._pulse.notify()

    async def _on_request_members(self, session: GatewaySession, d: dict[str, Any]) -> None:
        guild = self.guilds.get(int(d.get("guild_id", 0)))
        if guild is None:
            return
        query = (d.get("query") or "").lower()
        user_ids = {int(u) for u in d.get("user_ids") or []}
        members = [
            m.payload()
            for m in guild.members.values()
            if (not user_ids or m.user.id in user_ids) and m.user.name.lower().startswith(query)
        ]
        limit = int(d.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
