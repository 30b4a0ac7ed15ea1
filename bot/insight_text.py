"""The question log's views as text, the same for ``/insight`` and ``articlebot unanswered|
stats``: plain functions of the engine's records, no Discord import. ``escape`` neutralises
Markdown in members' words and titles for Discord (the CLI passes none)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from retrieval.types import PeriodStats, UnansweredGroup

Escape = Callable[[str], str]

NOTHING_UNANSWERED = ("Nothing unanswered in the log: every logged question got an answer "
                      "and no 👎.")


def _plain(text: str) -> str:
    return text


def _when(iso: str) -> str:
    """"2025-06-01T14:03:00+00:00" → "2025-06-01 14:03 UTC"."""
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 else iso


def unanswered_text(groups: Sequence[UnansweredGroup], escape: Escape = _plain) -> str:
    if not groups:
        return NOTHING_UNANSWERED
    lines = ["Unanswered questions (abstained or 👎), most asked first:"]
    for number, g in enumerate(groups, 1):
        times = "once" if g.count == 1 else f"{g.count} times"
        why = [f"{g.abstained} abstained"] if g.abstained else []
        why += [f"{g.down_votes} 👎"] if g.down_votes else []
        lines.append(f"{number}. “{escape(g.question)}” — asked {times} "
                     f"({', '.join(why)}), last {_when(g.last_asked)}")
        if g.wordings:
            lines.append("   also asked as: " + "; ".join(
                f"“{escape(w)}”" for w in g.wordings[:3]) + (" …" if len(g.wordings) > 3 else ""))
        for reason in g.reasons:
            lines.append(f"   👎 “{escape(reason)}”")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def stats_text(periods: Sequence[PeriodStats], escape: Escape = _plain) -> str:
    lines: list[str] = []
    for p in periods:
        share = "-" if p.answered_share is None else f"{p.answered_share:.0%}"
        asked = f"{p.questions} question{'s' * (p.questions != 1)}"
        lines.append(f"Last {p.days} days: {asked}, {share} answered, "
                     f"👍 {p.up} / 👎 {p.down}, latency p50 {_seconds(p.p50_s)}, "
                     f"p95 {_seconds(p.p95_s)}")
        if p.top_articles:
            lines.append("  most cited: " + "; ".join(
                f"{escape(title)} ({count})" for title, count in p.top_articles))
    return "\n".join(lines)
