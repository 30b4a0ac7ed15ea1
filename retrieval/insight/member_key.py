"""Members in the question log: a keyed hash (HMAC-SHA256) of the member id, enough for one
vote per member per answer and useless for telling who voted without the key.

The key lives where the log does (``retrieval.store.voter_key``): a file per data directory
for SQLite, one row of the database for PostgreSQL, so that a member hashes alike on every
host and votes once, whichever host takes the click.
"""

from __future__ import annotations

import hashlib
import hmac


def voter_hash(key: bytes, member_id: str) -> str:
    return hmac.new(key, member_id.encode(), hashlib.sha256).hexdigest()
