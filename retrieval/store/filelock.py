"""A per-collection writer lock shared by every process on one data directory.

``flock`` on a lock file in the collection's directory: the kernel releases it when the
holder exits or crashes, so a killed ``articlebot ingest`` never leaves a stale lock behind.
Each acquisition opens its own file description, so two ``Collection`` objects of one
directory exclude each other even inside one process.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retrieval.errors import StorageError

BUSY_SENTENCE = ("Another process is writing to this collection; nothing was stored. "
                 "Try again in a minute.")


class LockTimeout(StorageError):
    """Another writer held the collection longer than the configured wait."""


@contextmanager
def exclusive(path: Path, timeout_s: float, poll_s: float = 0.05) -> Iterator[bool]:
    """Hold the lock at ``path``; yields False (no lock) where the file cannot be created,
    i.e. on a read-only volume, where nobody can write anyway."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT):
            yield False
            return
        raise StorageError(f"Could not open the collection's lock file ({exc.strerror}).") \
            from exc
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(BUSY_SENTENCE) from None
                time.sleep(poll_s)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
