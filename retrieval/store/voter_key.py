"""The key that hashes voters in the question log (``retrieval.insight.member_key``): 32
random bytes, hex, one per place that keeps the log. For SQLite a file in the data directory
(``DataDir.member_key``, readable by its owner only; two processes making it at once agree
on the first one written); for PostgreSQL a row of the database
(``postgres.PostgresBackend.member_key``), so every host hashes a member alike.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def load_or_create_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(new_key().hex())
                out.flush()
                os.fsync(out.fileno())
            # Fails if another process got there first: theirs is used.
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    return read_key(path)


def read_key(path: Path) -> bytes:
    return bytes.fromhex(path.read_text(encoding="ascii").strip())
