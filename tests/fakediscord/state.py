"""Value types and small helpers of the fake Discord, shared by its route families."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from .payloads import (
    FLAG_LOADING,
    FakeChannel,
    FakeGuild,
    FakeRole,
    FakeUser,
    public_message,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

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
