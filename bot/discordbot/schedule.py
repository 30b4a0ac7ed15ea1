"""Work ``articlebot run`` does on a timer: backing up the collections that changed
(``backup.interval_hours``), in a worker thread so the event loop never waits for a copy."""

from __future__ import annotations

import asyncio
import logging

from config import Settings
from retrieval.engine import Engine

log = logging.getLogger("articlebot.discord")

CHECK_EVERY_S = 3600.0  # how often the schedule looks for a collection due a backup


async def back_up_on_schedule(engine: Engine, settings: Settings) -> None:
    """Back up each collection that changed and whose newest backup is older than the
    interval (one with no backup at once), then look again every hour; until cancelled."""
    interval_s = settings.backup.interval_hours * 3600
    if interval_s <= 0 or settings.storage.backend != "sqlite":  # PostgreSQL: pg_dump
        return
    while True:
        try:
            results = await asyncio.to_thread(engine.backup, older_than_s=interval_s)
        except Exception:  # a backup must never stop the bot; each failure is logged
            log.exception("scheduled backup failed")
        else:
            taken = [r.collection for r in results if r.path is not None]
            if taken:
                log.info("backed up %d collections: %s", len(taken), ", ".join(taken))
        await asyncio.sleep(min(interval_s, CHECK_EVERY_S))
