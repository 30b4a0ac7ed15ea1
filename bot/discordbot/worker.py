"""The single model worker: a bounded queue in front of one thread that runs Engine calls.

The event loop never blocks on the model: handlers ``submit`` a blocking callable and await
its future, while tokens produced in the worker thread reach the loop through a
``TokenStream`` (``loop.call_soon_threadsafe``). One thread because the in-process model
serialises generation anyway (one model, one lock); the bounded queue turns overload into a
polite "busy" instead of an ever-growing backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class QueueFull(Exception):
    """Every queue slot is taken."""


class QueueExpired(Exception):
    """The job's turn did not come before its ``start_by`` deadline (its interaction would
    expire before the answer could be delivered): it was dropped and its slot freed."""


@dataclass(eq=False)
class _Job(Generic[T]):
    call: Callable[[], T]
    future: asyncio.Future[T]
    timer: asyncio.TimerHandle | None = None


class LLMWorker:
    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._waiting: deque[_Job[Any]] = deque()
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="articlebot-llm")
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.expired = 0  # jobs dropped at their deadline, for the log and tests

    @property
    def pending(self) -> int:
        """Jobs waiting or running."""
        return len(self._waiting) + (1 if self._running else 0)

    @property
    def waiting(self) -> int:
        """Jobs whose turn has not come yet."""
        return len(self._waiting)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="llm-worker")

    def submit(
        self, call: Callable[[], T], *, start_by: float | None = None
    ) -> tuple[asyncio.Future[T], int]:
        """Queue ``call``; return its future and how many jobs are ahead of it.

        ``start_by`` (``time.monotonic()`` seconds): if the job has not started by then it is
        taken out of the queue and its future fails with ``QueueExpired``. A cancelled
        future (its interaction was abandoned) frees its slot at once."""
        if self._closed:
            raise QueueFull("the bot is shutting down")
        if len(self._waiting) >= self.queue_size:
            raise QueueFull(f"{self.queue_size} questions are already waiting")
        ahead = self.pending
        loop = asyncio.get_running_loop()
        job: _Job[T] = _Job(call, loop.create_future())
        if start_by is not None:
            job.timer = loop.call_later(max(0.0, start_by - time.monotonic()), self._expire, job)
        job.future.add_done_callback(lambda _: self._withdraw(job))
        self._waiting.append(job)
        self._wake.set()
        return job.future, ahead

    def _withdraw(self, job: _Job[Any]) -> bool:
        """Take a job that has not started out of the queue; False if it was not there."""
        if job.timer is not None:
            job.timer.cancel()
        try:
            self._waiting.remove(job)
        except ValueError:
            return False
        return True

    def _expire(self, job: _Job[Any]) -> None:
        if self._withdraw(job) and not job.future.done():
            self.expired += 1
            job.future.set_exception(QueueExpired("its interaction would expire first"))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._waiting:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
            job = self._waiting.popleft()
            if job.timer is not None:
                job.timer.cancel()
            if job.future.done():  # cancelled or expired while it waited
                continue
            self._running = True
            try:
                result = await loop.run_in_executor(self._executor, job.call)
            except asyncio.CancelledError:  # close() gave up waiting: nobody waits either
                if not job.future.done():
                    job.future.set_exception(QueueFull("the bot is shutting down"))
                raise
            except Exception as exc:
                if not job.future.done():
                    job.future.set_exception(exc)
            else:
                if not job.future.done():
                    job.future.set_result(result)
            finally:
                self._running = False

    async def close(self, timeout: float = 120.0) -> None:
        """Stop taking jobs, fail the waiting ones, let the running one finish (up to
        ``timeout`` seconds) so its answer is delivered and no write is cut short."""
        if self._closed:
            return
        self._closed = True
        while self._waiting:
            job = self._waiting.popleft()
            if job.timer is not None:
                job.timer.cancel()
            if not job.future.done():
                job.future.set_exception(QueueFull("the bot is shutting down"))
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except asyncio.TimeoutError:
                log.warning("the model job did not finish within %.0f s of shutdown", timeout)
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)


class TokenStream:
    """Text generated in the worker thread, mirrored on the event loop as it grows."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._changed = asyncio.Event()
        self.text = ""
        self.tokens = 0
        self.started_at: float | None = None  # monotonic time the worker began the job

    def push(self, token: str) -> None:
        """Called from the worker thread for every token."""
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(self._append, token)

    def _append(self, token: str) -> None:
        self.text += token
        self.tokens += 1
        self._changed.set()

    async def changed(self) -> str:
        """Wait for new text; return all text so far."""
        await self._changed.wait()
        self._changed.clear()
        return self.text
