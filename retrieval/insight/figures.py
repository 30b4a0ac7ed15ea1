"""The log's figures for admins: the unanswered list, usage over a period, the CSV export.

Pure functions of the log's rows (``retrieval.store.question_log.LogRow``) and, for the
unanswered list, their question embeddings.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from retrieval.insight.grouping import group_by_meaning
from retrieval.store.question_log import LogRow
from retrieval.types import PeriodStats, UnansweredGroup

TOP_ARTICLES = 5
MAX_REASONS = 5

Embed = Callable[[Sequence[str]], np.ndarray]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), interpolated between the closest ranks (numpy's
    linear method, as every report of this project); None without values."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else None


def is_unanswered(row: LogRow) -> bool:
    return row.abstained or row.down > 0


def unanswered(rows: Sequence[LogRow], embed: Embed, threshold: float
               ) -> list[UnansweredGroup]:
    """Abstained or 👎'd questions, one group per meaning, most frequent first (the most
    recently asked first among equals)."""
    wanted = [r for r in rows if is_unanswered(r)]
    if not wanted:
        return []
    wordings: dict[str, list[LogRow]] = {}
    for row in wanted:  # one embedding per distinct wording (case and spacing aside)
        wordings.setdefault(" ".join(row.question.casefold().split()), []).append(row)
    keys = list(wordings)
    # Later wordings first among equals: the newest is the seed a rewording joins.
    keys.sort(key=lambda k: max(r.id for r in wordings[k]), reverse=True)
    vectors = np.asarray(embed([wordings[k][-1].question for k in keys]), dtype=np.float32)
    groups = group_by_meaning(vectors, [len(wordings[k]) for k in keys], threshold)
    out = [_group([wordings[keys[i]] for i in members]) for members in groups]
    out.sort(key=lambda g: (g.count, g.last_asked), reverse=True)
    return out


def _group(families: list[list[LogRow]]) -> UnansweredGroup:
    families = sorted(families, key=lambda f: (len(f), max(r.id for r in f)), reverse=True)
    rows = sorted((r for f in families for r in f), key=lambda r: r.id, reverse=True)
    reasons = list(dict.fromkeys(reason for r in rows for reason in r.reasons))
    return UnansweredGroup(
        question=families[0][-1].question, count=len(rows), last_asked=rows[0].asked_at,
        wordings=[f[-1].question for f in families[1:]],
        abstained=sum(r.abstained for r in rows), down_votes=sum(r.down for r in rows),
        reasons=reasons[:MAX_REASONS])


def period_stats(rows: Sequence[LogRow], days: int) -> PeriodStats:
    """Figures over ``rows`` (the caller passes the period's rows)."""
    latencies = [r.latency_s for r in rows]
    cited: Counter[str] = Counter()
    for row in rows:
        cited.update({title for _, title, _ in row.citations})
    return PeriodStats(
        days=days, questions=len(rows), answered=sum(not r.abstained for r in rows),
        up=sum(r.up for r in rows), down=sum(r.down for r in rows),
        p50_s=percentile(latencies, 50), p95_s=percentile(latencies, 95),
        top_articles=cited.most_common(TOP_ARTICLES))


CSV_COLUMNS = ("id", "asked_at", "source", "question", "answer", "abstained", "citations",
               "latency_s", "up", "down", "reasons")


def export_csv(rows: Sequence[LogRow]) -> str:
    """The log as CSV, one row per question; citations as "title ¶n" (1-based), reasons
    joined by " | ". Voter hashes are not exported."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([
            r.id, r.asked_at, r.source, _cell(r.question), _cell(r.answer),
            int(r.abstained), _cell("; ".join(f"{t} ¶{p + 1}" for _, t, p in r.citations)),
            f"{r.latency_s:.3f}", r.up, r.down, " | ".join(_cell(x) for x in r.reasons)])
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet would run a cell starting with = + - @ as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
