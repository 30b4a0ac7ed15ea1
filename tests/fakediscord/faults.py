"""Fault injection: rate limits, failing and slow routes, gateway reconnects."""


from __future__ import annotations

import re

from .state import (
    _Rule,
)


class Faults:
    """Mixed into :class:`FakeDiscord`; uses its state."""

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
