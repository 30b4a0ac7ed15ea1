"""Telling Discord's failures apart: worth retrying (5xx, 429, a dropped connection) or not
(the interaction token is gone, the request itself is refused)."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

# What Discord (or the network to it) can throw at a request.
DISCORD_ERRORS: tuple[type[BaseException], ...] = (
    discord.HTTPException, aiohttp.ClientError, OSError, asyncio.TimeoutError)


def is_transient(exc: BaseException) -> bool:
    """Worth trying again: a server error, a rate limit, a dropped connection."""
    if isinstance(exc, discord.HTTPException):
        return exc.status >= 500 or exc.status == 429
    return isinstance(exc, DISCORD_ERRORS)


def retry_after(exc: BaseException) -> float:
    """Seconds a 429 asks us to wait (0 when it does not say, or for other errors)."""
    if not isinstance(exc, discord.HTTPException) or exc.status != 429:
        return 0.0
    headers = getattr(exc.response, "headers", None) or {}
    for name in ("Retry-After", "X-RateLimit-Reset-After"):
        try:
            return max(0.0, float(headers.get(name, "")))
        except ValueError:
            continue
    return 0.0


def describe(exc: BaseException) -> str:
    """For the log: ``HTTP 503 code 0``, or the exception's type."""
    if isinstance(exc, discord.HTTPException):
        return f"HTTP {exc.status} code {exc.code}"
    return type(exc).__name__
