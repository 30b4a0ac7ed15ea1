"""Members in the question log: a keyed hash (HMAC-SHA256) of the member id, enough for one
vote per member per answer and useless for telling who voted without the key.

The key is 32 random bytes made once per data directory (``DataDir.member_key``), readable by
its owner only; two processes making it at once agree on the first one written.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_hex(KEY_BYTES))
                out.flush()
                os.fsync(out.fileno())
            # Fails if another process got there first: theirs is used.
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def voter_hash(key: bytes, member_id: str) -> str:
    return hmac.new(key, member_id.encode(), hashlib.sha256).hexdigest()
