"""What a collection's storage failing means, in one sentence for the user and one log line
for the operator.

A damaged database stays its own collection's problem: every read and write error becomes a
``StorageError`` naming the collection and what the operator can do (``articlebot restore``),
and the path goes to the log once (``FaultLog``), never to a member.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
from pathlib import Path

from retrieval.errors import StorageError

log = logging.getLogger(__name__)

# SQLite's primary result codes for a file that is not (or no longer) a sound database.
_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


class DamagedDatabase(StorageError):
    """A collection's database is damaged, missing or emptied; restoring a backup helps."""


def on_read_only_fs(path: Path) -> bool:
    """Whether ``path`` (a file or directory; its nearest existing ancestor is asked) lies on
    a file system mounted read-only."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def can_create(path: Path) -> bool:
    """Whether ``path`` (a directory that may not exist yet) could be created and written."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.access(probe, os.W_OK | os.X_OK) and not on_read_only_fs(probe)


def disk_full(path: Path) -> bool:
    try:
        return os.statvfs(path).f_bavail == 0
    except OSError:
        return False


def open_read_only(path: Path, name: str, faults: FaultLog) -> sqlite3.Connection:
    """The database at ``path`` where it cannot be written (a read-only volume, a full disk).

    ``immutable=1`` would ignore a write-ahead log a writer left un-checkpointed (killed, or
    writing through another mount), hiding its latest articles: with a log present SQLite
    reads it (``mode=ro``), and immutable is used only when there is none, i.e. every change
    is in the database file. A log it cannot read (its ``-shm`` index gone) is refused."""
    wal = Path(f"{path}-wal")
    mode = "mode=ro" if wal.is_file() and wal.stat().st_size > 0 else "immutable=1"
    db = sqlite3.connect(f"file:{path}?{mode}", uri=True, check_same_thread=False,
                         isolation_level=None)
    try:
        db.execute("SELECT COUNT(*) FROM meta").fetchone()
    except sqlite3.Error as exc:
        db.close()
        if is_corruption(exc):
            raise translate(exc, name=name, path=path, writing=False, faults=faults) from exc
        faults.error(path, f"cannot be written, and its write-ahead log cannot be read ({exc})")
        raise StorageError(
            f"Collection {name} has changes in its write-ahead log that cannot be read on a "
            "read-only volume; mount the data directory writable once (or restart the "
            "process that wrote them) so they are saved.") from exc
    return db


def file_identity(path: Path) -> tuple[int, int] | None:
    """Device and inode: they change when the file is replaced, not when it is written."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def is_corruption(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _CORRUPT_CODES
    text = str(exc)
    return "malformed" in text or "not a database" in text


def storage_sentence(exc: sqlite3.Error | OSError) -> str:
    """One sentence for a failed write, the same whether SQLite or a plain file hit it."""
    code = exc.errno if isinstance(exc, OSError) else None
    text = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
    if code == errno.ENOSPC or "full" in text:
        return "The disk holding the data directory is full; nothing was stored."
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text:
        return "The data directory is not writable; nothing was stored."
    return f"Could not write to the data directory ({text}); nothing was stored."


def restore_hint(name: str) -> str:
    return f"the bot's operator can restore the last backup with `articlebot restore {name}`"


def damaged_sentence(name: str) -> str:
    return (f"The database of collection {name} is damaged, so nothing can be read from it or "
            f"stored in it; {restore_hint(name)}.")


def emptied_sentence(name: str, chunks: int) -> str:
    held = "articles" if chunks <= 0 else "1 passage" if chunks == 1 else f"{chunks} passages"
    return (f"The database of collection {name} is missing or empty although its index held "
            f"{held}, so nothing was changed; {restore_hint(name)}.")


def read_sentence(name: str, exc: BaseException) -> str:
    return (f"Could not read the database of collection {name} ({exc}); the bot's operator can "
            f"check it with `articlebot check` and restore the last backup with "
            f"`articlebot restore {name}`.")


class FaultLog:
    """Logs each storage fault once, with the path, however often it is met (a damaged
    collection is asked about again and again); ``forget`` re-arms a path that works again."""

    def __init__(self) -> None:
        self._seen: set[tuple[Path, str]] = set()
        self._lock = threading.Lock()

    def error(self, path: Path, what: str) -> None:
        with self._lock:
            first = (path, what) not in self._seen
            self._seen.add((path, what))
        # ``told_user``: the caller gets the sentence too (the CLI then shows only that).
        log.log(logging.ERROR if first else logging.DEBUG, "database %s: %s", path, what,
                extra={"told_user": True})

    def forget(self, path: Path) -> None:
        with self._lock:
            self._seen = {seen for seen in self._seen if seen[0] != path}


def translate(exc: sqlite3.Error, *, name: str, path: Path, writing: bool,
              faults: FaultLog) -> StorageError:
    """The ``StorageError`` for an SQLite error met reading or writing collection ``name``."""
    if is_corruption(exc):
        faults.error(path, f"damaged ({exc}); restore a backup with `articlebot restore {name}`")
        return DamagedDatabase(damaged_sentence(name))
    if writing:
        return StorageError(storage_sentence(exc))
    faults.error(path, f"read failed ({exc})")
    return StorageError(read_sentence(name, exc))
