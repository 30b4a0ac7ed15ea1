"""The question log's one entry point (``Engine.feedback``): whether a collection logs, what
an answer leaves in the log, members' votes, the retention purge, erasure and the admin views.

Policy, in one place: a collection logs when its own switch (``/insight log on|off``, kept in
its database) says so, else by ``log.questions``; questions from the command line only with
``log.cli`` as well. Nothing is written, not even a collection's database, while logging is
off. Every method is blocking: async callers run it in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Literal

import numpy as np

from config import Settings
from retrieval.insight.figures import export_csv, period_stats, unanswered
from retrieval.insight.member_key import voter_hash
from retrieval.store.collection import Collection
from retrieval.store.question_log import LogRow, QuestionLog, question_log
from retrieval.types import Answer, PeriodStats, UnansweredGroup, VoteOutcome

Source = Literal["discord", "cli"]
SWITCH_KEY = "log.questions"
MAX_REASON_CHARS = 300
PERIODS = (7, 30)
# The longest wording of a question kept: longer ones are cut (the limit on questions is
# larger, but a log line of a thousand characters helps nobody).
MAX_LOGGED_QUESTION = 1000


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


class Feedback:
    def __init__(self, settings: Settings, *,
                 collection: Callable[[str | None], Collection],
                 existing: Callable[[str | None], Collection | None],
                 embed: Callable[[Sequence[str]], np.ndarray],
                 member_key: Callable[[], bytes],
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self._collection = collection
        self._existing = existing
        self._embed = embed
        self._member_key = member_key  # the backend's: a file, or a row every host shares
        self.clock = clock  # tests move time forward to see the retention purge
        self._key: bytes | None = None
        self._key_lock = threading.Lock()

    # -- policy ---------------------------------------------------------------------------
    def enabled(self, collection: str | None) -> bool:
        """Whether answers in ``collection`` are logged (the server's switch, else the
        default)."""
        found = self._existing(collection)
        switch = None if found is None else found.store.get_meta(SWITCH_KEY)
        return self.settings.log.questions if switch is None else switch == "on"

    def set_enabled(self, collection: str | None, on: bool) -> None:
        self._collection(collection).store.set_meta(SWITCH_KEY, "on" if on else "off")

    def _logs(self, collection: str | None, source: Source) -> bool:
        return (source != "cli" or self.settings.log.cli) and self.enabled(collection)

    # -- writing ----------------------------------------------------------------------------
    def record(self, question: str, answer: Answer, *, collection: str | None,
               latency_s: float, source: Source = "discord") -> int | None:
        """Log an answer; its entry id (for the vote buttons), or None when not logged."""
        if source != "cli" or self.settings.log.cli:
            # Also while the server's log is off: nothing outlives the retention.
            self.purge(collection)
        if not self._logs(collection, source):
            return None
        table = self._table(collection)
        now = self.clock()
        citations = [(c.article_id, c.title, c.paragraph) for c in answer.citations]
        return table.add(asked_at=_iso(now), source=source,
                         question=question[:MAX_LOGGED_QUESTION], answer=answer.text,
                         abstained=answer.abstained, citations=citations,
                         latency_s=round(latency_s, 3))

    def vote(self, entry_id: int, member_id: str, up: bool, *, collection: str | None
             ) -> VoteOutcome:
        """``member_id``'s 👍 (``up``) or 👎 on an entry of ``collection``'s log: one per
        member, changeable. "missing" when the entry is gone (purged, erased, another
        server's), "off" when the log is off."""
        if not self.enabled(collection):
            return "off"
        found = self._existing(collection)
        if found is None:
            return "missing"
        self.purge(collection)  # an entry past the retention is gone, not voted on
        return question_log(found.store).vote(
            entry_id, self._voter(member_id), 1 if up else -1, _iso(self.clock()))

    def give_reason(self, entry_id: int, member_id: str, reason: str, *,
                    collection: str | None) -> bool:
        """The reason for the member's 👎 (at most 300 characters kept); False when there
        is no such 👎 (any more)."""
        reason = " ".join(reason.split())[:MAX_REASON_CHARS]
        found = self._existing(collection)
        if not reason or found is None or not self.enabled(collection):
            return False
        self.purge(collection)
        return question_log(found.store).set_reason(entry_id, self._voter(member_id), reason)

    def purge(self, collection: str | None) -> int:
        """Delete the entries older than ``log.retention_days``; how many went."""
        found = self._existing(collection)
        if found is None:
            return 0
        cutoff = self.clock() - timedelta(days=self.settings.log.retention_days)
        return question_log(found.store).delete_before(_iso(cutoff))

    def forget(self, collection: str | None) -> int:
        """Erase the collection's whole log; how many entries went."""
        found = self._existing(collection)
        return 0 if found is None else question_log(found.store).delete_all()

    # -- reading ----------------------------------------------------------------------------
    def unanswered(self, collection: str | None, *, limit: int = 20) -> list[UnansweredGroup]:
        """Questions abstained on or 👎'd, grouped by meaning, most frequent first."""
        rows = self._rows(collection)
        return unanswered(rows, self._embed, self.settings.log.group_similarity)[:limit]

    def stats(self, collection: str | None) -> list[PeriodStats]:
        """Figures over the last 7 and 30 days."""
        rows = self._rows(collection)
        now = self.clock()
        return [period_stats([r for r in rows if r.asked_at >= _iso(now - timedelta(days=d))],
                             d) for d in PERIODS]

    def export(self, collection: str | None) -> str:
        return export_csv(self._rows(collection))

    def count(self, collection: str | None) -> int:
        found = self._existing(collection)
        return 0 if found is None else question_log(found.store).count()

    # -- helpers ----------------------------------------------------------------------------
    def _rows(self, collection: str | None) -> list[LogRow]:
        found = self._existing(collection)
        if found is None:
            return []
        self.purge(collection)  # what the admin sees never outlives the retention
        return question_log(found.store).rows()

    def _table(self, collection: str | None) -> QuestionLog:
        return question_log(self._collection(collection).store)

    def _voter(self, member_id: str) -> str:
        with self._key_lock:
            if self._key is None:
                self._key = self._member_key()
            return voter_hash(self._key, member_id)
