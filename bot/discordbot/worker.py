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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class QueueFull(Exception):
    """Every queue slot is taken."""


@dataclass
class _Job(Generic[T]):
    call: Callable[[], T]
    future: asyncio.Future[T]


class LLMWorker:
    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._queue: asyncio.Queue[_Job[Any] | None] = asyncio.Queue(maxsize=queue_size)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="articlebot-llm")
        self._running = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Jobs waiting or running."""
        return self._queue.qsize() + (1 if self._running else 0)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="llm-worker")

    def submit(self, call: Callable[[], T]) -> tuple[asyncio.Future[T], int]:
        """Queue ``call``; return its future and how many jobs are ahead of it."""
        if self._closed:
            raise QueueFull("the bot is shutting down")
        ahead = self.pending
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Job(call, future))
        except asyncio.QueueFull:
            raise QueueFull(f"{self.queue_size} questions are already waiting") from None
        return future, ahead

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            if job is None:  # close(): no more jobs
                return
            if job.future.cancelled():  # its interaction was abandoned while it waited
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
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None and not job.future.done():
                job.future.set_exception(QueueFull("the bot is shutting down"))
        if self._task is not None:
            self._queue.put_nowait(None)
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
