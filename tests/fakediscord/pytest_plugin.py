"""Optional pytest fixtures. Enable with ``pytest_plugins = ["fakediscord.pytest_plugin"]``
in ``tests/conftest.py`` (``tests/`` is on ``sys.path`` under pytest's default import mode).

The fixture is pinned to the *test's* event loop (``loop_scope="function"``): the project sets
``asyncio_default_fixture_loop_scope = "session"``, and an async fixture on the session loop
would run the server on a loop that is not running while a function-scoped test awaits it
(every request then hangs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .server import FakeDiscord


@pytest_asyncio.fixture(loop_scope="function")
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    """A started :class:`FakeDiscord` with discord.py already pointed at it."""
    async with FakeDiscord() as fake:
        fake.install(monkeypatch)
        yield fake
