"""The loopback fake Discord: an aiohttp app serving REST under ``/api/v10``, a gateway
websocket at ``/gateway`` and a tiny CDN under ``/attachments``.

A real ``discord.Client`` / ``commands.Bot`` is pointed at it with :meth:`FakeDiscord.install`
and driven with :meth:`FakeDiscord.slash`, :meth:`FakeDiscord.send_message` & co.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, web

from .actions import UserActions
from .faults import Faults
from .gateway import GatewayRoutes
from .payloads import (
    CHANNEL_DM,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    INTENT_GUILD_MEMBERS,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeUser,
    error_response,
    json_response,
    snowflake,
    snowflake_on_shard,
)
from .queries import Queries
from .rest_app import AppRoutes
from .rest_channels import ChannelRoutes
from .rest_interactions import InteractionRoutes
from .state import (
    _ROUTES,
    _TOKEN_ROUTES,
    API_PREFIX,
    FakeInteraction,
    GatewaySession,
    RecordedRequest,
    UploadedFile,
    _Handler,
    _id_of,
    _Pulse,
    _Req,
    _Rule,
    _ServedFile,
    log,
)


class FakeDiscord(  # route families and helpers live in mixins, one module each
    Queries, Faults, UserActions, AppRoutes, InteractionRoutes, ChannelRoutes, GatewayRoutes,
):
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
