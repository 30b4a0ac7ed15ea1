"""Who may do what, and how often: per-user cooldowns, the admin rule, per-guild collections.

Plain functions and a small class with an injectable clock, unit-tested without Discord.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


def collection_for(guild_id: int | None, default: str) -> str:
    """Each server gets its own collection; DMs use the shared default one."""
    return default if guild_id is None else f"guild-{guild_id}"


def is_admin(*, manage_guild: bool, role_names: Iterable[str], admin_role: str) -> bool:
    """Manage Server (Administrator implies it), or the configured admin role by name."""
    return manage_guild or (bool(admin_role) and admin_role in set(role_names))


class Cooldown:
    """Seconds each user must wait between questions."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._last: dict[int, float] = {}

    def remaining(self, user_id: int) -> float:
        last = self._last.get(user_id)
        if last is None or self.seconds <= 0:
            return 0.0
        return max(0.0, last + self.seconds - self._clock())

    def hit(self, user_id: int) -> None:
        if self.seconds <= 0:
            return
        now = self._clock()
        if len(self._last) > 10_000:  # forget users whose cooldown is long over
            self._last = {u: t for u, t in self._last.items() if t + self.seconds > now}
        self._last[user_id] = now
