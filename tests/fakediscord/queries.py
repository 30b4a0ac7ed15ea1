"""What the bot did and waiting for it: messages, requests, heartbeats."""


from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from .state import (
    RecordedRequest,
)


class Queries:
    """Mixed into :class:`FakeDiscord`; uses its state."""

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
