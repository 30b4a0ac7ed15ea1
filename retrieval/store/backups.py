"""Backups, checks and restores of the SQLite backend's collection databases.

A backup is SQLite's online backup API (a consistent copy while the bot serves and writes),
checked (``PRAGMA quick_check``) before it is kept, so a damaged database never pushes a good
backup out of the last ``backup.keep``. Backups are named ``<UTC time>-g<generation>.sqlite3``
under ``<backup dir>/<collection>/``; a collection whose generation matches its newest backup
is unchanged and not copied again.

A restore holds the collection's writer lock (refused while another process writes), copies
the backup into the live database through the backup API (so processes that have it open see
the restored content at once), or replaces the file when the live one is beyond opening, sets
a generation above any the collection had (every process then reloads its indexes) and
removes the index files, which are rebuilt from SQLite on next use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from config import Settings
from retrieval.errors import NotFoundError, StorageError
from retrieval.store import filelock
from retrieval.store.collection import INDEX_DIR, LOCK_FILE, STORE_FILE, check_collection_name
from retrieval.store.faults import can_create, emptied_sentence, restore_hint
from retrieval.store.indexes import fsync_dir, indexed_chunks, manifest_generation
from retrieval.types import BackupResult, CollectionCheck, DataDir

log = logging.getLogger(__name__)

SUFFIX = ".sqlite3"
_STEP_PAGES = 1024  # pages copied per step: other connections write between steps


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    target = f"file:{path}?mode=ro" if read_only else str(path)
    db = sqlite3.connect(target, uri=read_only, timeout=30.0, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def _problem(db: sqlite3.Connection) -> str | None:
    """What ``quick_check`` finds wrong, in one phrase; None when the database is sound."""
    rows = [str(r[0]) for r in db.execute("PRAGMA quick_check").fetchall()]
    return None if rows == ["ok"] else "; ".join(rows[:3])


def _generation(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return int(row[0]) if row else 0


def _generation_of(name: str) -> int:
    stem = name.removesuffix(SUFFIX)
    _, _, number = stem.rpartition("-g")
    return int(number) if number.isdigit() else -1


class Backups:
    """Backups, checks and restores of every collection in one data directory."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.data = DataDir(settings.data_dir)
        cfg = settings.backup
        self.root = Path(cfg.directory).expanduser() if cfg.directory else self.data.backups

    # -- what there is ------------------------------------------------------------------
    def collections(self) -> list[str]:
        """Every collection on disk: a database, or an index left without one."""
        if not self.data.collections.is_dir():
            return []
        return sorted(d.name for d in self.data.collections.iterdir() if d.is_dir() and (
            (d / STORE_FILE).is_file() or indexed_chunks(d / INDEX_DIR) is not None))

    def of(self, name: str) -> list[Path]:
        """The backups of collection ``name``, oldest first."""
        directory = self.root / check_collection_name(name)
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.iterdir()
                      if p.suffix == SUFFIX and not p.name.startswith("."))

    # -- check --------------------------------------------------------------------------
    def check(self, name: str) -> CollectionCheck:
        """``PRAGMA quick_check`` of one collection (read-only: safe while the bot serves)."""
        directory = self.data.collection(check_collection_name(name))
        backups = self.of(name)
        last = backups[-1] if backups else None
        path = directory / STORE_FILE
        if not path.is_file() or path.stat().st_size == 0:
            held = indexed_chunks(directory / INDEX_DIR) or 0
            return CollectionCheck(name, False, emptied_sentence(name, held), 0, last)
        try:
            with _connect(path, read_only=True) as db:
                problem = _problem(db)
                articles = 0 if problem else int(
                    db.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
        except sqlite3.Error as exc:
            problem, articles = str(exc), 0
        if problem:
            log.error("database %s: check failed: %s", path, problem, extra={"told_user": True})
            return CollectionCheck(name, False, f"damaged ({problem}); {restore_hint(name)}",
                                   0, last)
        return CollectionCheck(name, True, "ok", articles, last)

    # -- backup -------------------------------------------------------------------------
    def backup(self, name: str, *, older_than_s: float = 0.0) -> BackupResult:
        """Copy collection ``name`` if it changed since its newest backup (and that backup is
        at least ``older_than_s`` old); keep the newest ``backup.keep``."""
        path = self.data.collection(check_collection_name(name)) / STORE_FILE
        backups = self.of(name)
        if backups and older_than_s and \
                datetime.now().timestamp() - backups[-1].stat().st_mtime < older_than_s:
            return BackupResult(name, None, "backed up recently")
        directory = self.root / name
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with _connect(path, read_only=True) as source:
                generation = _generation(source)
                if backups and _generation_of(backups[-1].name) == generation:
                    return BackupResult(name, None, "unchanged since the last backup")
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                target = directory / f"{stamp}-g{generation}{SUFFIX}"
                self._copy(source, target)
        except (sqlite3.Error, OSError, StorageError) as exc:
            log.error("collection %s: no backup taken: %s", name, exc, extra={"told_user": True})
            return BackupResult(name, None, f"no backup taken ({exc})")
        for old in self.of(name)[:-self.settings.backup.keep]:
            old.unlink(missing_ok=True)
        log.info("collection %s: backed up to %s", name, target)
        return BackupResult(name, target)

    def _copy(self, source: sqlite3.Connection, target: Path) -> None:
        """``source`` into ``target`` (a stand-alone file, no write-ahead log), checked
        first, written under a temporary name and renamed."""
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            with _connect(tmp) as copy:
                source.backup(copy, pages=_STEP_PAGES)
                copy.execute("PRAGMA journal_mode=DELETE")
                problem = _problem(copy)
            if problem:
                raise StorageError(f"the database is damaged ({problem})")
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            fsync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)

    def backup_all(self, *, older_than_s: float = 0.0) -> list[BackupResult]:
        return [self.backup(name, older_than_s=older_than_s) for name in self.collections()]

    # -- restore ------------------------------------------------------------------------
    def restore(self, name: str, source: Path | None = None) -> Path:
        """Restore collection ``name`` from ``source`` (a path, or a file name among its
        backups; default the newest). Returns the backup used."""
        directory = self.data.collection(check_collection_name(name))
        backup = self._pick(name, source)
        with _connect(backup, read_only=True) as db:
            try:
                problem, generation = _problem(db), _generation(db)
            except sqlite3.Error as exc:
                problem, generation = str(exc), 0
        if problem:
            raise StorageError(f"The backup {backup.name} is damaged too ({problem}); nothing "
                               "was restored. Choose another with --from.")
        if not can_create(directory):
            raise StorageError("The data directory is not writable; nothing was restored.")
        directory.mkdir(parents=True, exist_ok=True)
        try:
            with filelock.exclusive(directory / LOCK_FILE, timeout_s=0.5):
                self._restore_locked(directory, backup, generation)
        except filelock.LockTimeout:
            raise StorageError(
                f"Another process is writing to collection {name}; nothing was restored. Try "
                "again when it has finished (or stop it first).") from None
        log.warning("collection %s: restored from %s", name, backup, extra={"told_user": True})
        return backup

    def _pick(self, name: str, source: Path | None) -> Path:
        if source is None:
            found = self.of(name)
            if not found:
                raise NotFoundError(f"There is no backup of collection {name} in {self.root}.")
            return found[-1]
        for candidate in (source, self.root / name / source.name):
            if candidate.is_file():
                return candidate
        raise NotFoundError(f"There is no backup {source} of collection {name}.")

    def _restore_locked(self, directory: Path, backup: Path, generation: int) -> None:
        live = directory / STORE_FILE
        # Above any generation a process may have seen, so every one reloads its indexes.
        seen = max(generation, manifest_generation(directory / INDEX_DIR), _live_generation(live))
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".restore-", suffix=SUFFIX)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            with _connect(backup, read_only=True) as source, _connect(tmp) as copy:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=WAL")
                copy.execute("INSERT INTO meta(key, value) VALUES('generation', ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                             (str(seen + 1),))
                try:
                    with _connect(live) as target:
                        copy.backup(target, pages=_STEP_PAGES)
                except sqlite3.Error as exc:  # not even openable: replace the file
                    log.info("database %s: replacing the file (%s)", live, exc)
                    copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    self._replace(tmp, live)
        finally:
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)
        shutil.rmtree(directory / INDEX_DIR, ignore_errors=True)

    @staticmethod
    def _replace(tmp: Path, live: Path) -> None:
        for stale in (Path(f"{live}-wal"), Path(f"{live}-shm")):
            stale.unlink(missing_ok=True)
        copy = Path(f"{tmp}.copy")
        try:
            shutil.copyfile(tmp, copy)
            with open(copy, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(copy, live)
        finally:
            copy.unlink(missing_ok=True)
        fsync_dir(live.parent)


def _live_generation(path: Path) -> int:
    """The damaged database's generation, where it can still be read."""
    if not path.is_file() or path.stat().st_size == 0:
        return 0
    try:
        with _connect(path, read_only=True) as db:
            return _generation(db)
    except sqlite3.Error:
        return 0
