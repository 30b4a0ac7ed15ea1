"""Plain dataclasses the engine returns: no Discord, no models, easy to format or serialise;
and the data directory's layout (``DataDir``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class DataDir:
    """What lives where in the data directory (``data_dir``), spelled out once.

    ``collections/<name>/`` holds one collection (``retrieval.store.collection``: its SQLite
    store, write lock and index files), ``models/`` the model files assembled or downloaded
    there, ``memory.sqlite3`` the Discord bot's follow-up memory, ``member.key`` the secret
    that turns a member id into the question log's voter hash (made once, never shown),
    ``backups/<name>/`` the collections' backups (unless ``backup.directory`` says else).
    """

    root: Path

    @property
    def collections(self) -> Path:
        return self.root / "collections"

    def collection(self, name: str) -> Path:
        return self.collections / name

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def memory(self) -> Path:
        return self.root / "memory.sqlite3"

    @property
    def member_key(self) -> Path:
        return self.root / "member.key"

    @property
    def backups(self) -> Path:
        """Collection backups (``backups/<name>/``) unless ``backup.directory`` says else."""
        return self.root / "backups"


@dataclass(frozen=True)
class Chunk:
    """A piece of one paragraph of an article, as stored and indexed."""

    seq: int  # position of the chunk in the article
    paragraph: int  # index of the paragraph it comes from
    start: int  # character offsets into the article text
    end: int
    text: str


@dataclass(frozen=True)
class ArticleInfo:
    id: int
    title: str
    chunks: int
    added_at: str  # ISO 8601, UTC
    source: str
    added_by: str | None
    content_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "chunks": self.chunks,
            "added_at": self.added_at,
            "source": self.source,
        }


@dataclass(frozen=True)
class IngestResult:
    article: ArticleInfo
    status: Literal["added", "replaced", "unchanged"]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {**self.article.to_json(), "status": self.status, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its place in the article, for context and citations."""

    chunk_id: int
    article_id: int
    title: str
    paragraph: int
    start: int
    end: int
    text: str
    score: float  # fused score used for ranking
    dense: float = 0.0  # cosine similarity to the question


@dataclass(frozen=True)
class Citation:
    article_id: int
    title: str
    paragraph: int
    quote: str
    score: float


@dataclass(frozen=True)
class Turn:
    """One earlier question and its answer, for follow-up questions."""

    question: str
    answer: str


@dataclass
class Answer:
    text: str
    abstained: bool
    citations: list[Citation]
    timings: dict[str, float] = field(default_factory=dict)
    passages: list[Passage] = field(default_factory=list)
    context_tokens: int = 0
    # The trained reader's best span score minus its "no answer" score (None without it).
    reader_margin: float | None = None
    # The answerability check's logit for the answer's sentence (None without it).
    answerable: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [asdict(c) for c in self.citations],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


@dataclass(frozen=True)
class SummaryPoint:
    """One bullet (or sentence) of a summary and the paragraph (0-based) it comes from."""

    text: str
    paragraph: int
    compressed: bool  # shortened by the model (checked); otherwise the article's sentence


@dataclass
class Summary:
    article: ArticleInfo
    text: str
    length: Literal["short", "long"]
    cached: bool
    timings: dict[str, float] = field(default_factory=dict)
    points: list[SummaryPoint] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "article": self.article.to_json(),
            "summary": self.text,
            "length": self.length,
            "cached": self.cached,
            "points": [{"text": p.text, "paragraph": p.paragraph,
                        "compressed": p.compressed} for p in self.points],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


@dataclass(frozen=True)
class CollectionCheck:
    """One collection's health (``articlebot check``) and its newest backup."""

    collection: str
    ok: bool
    detail: str  # "ok" or what is wrong, in one phrase
    articles: int = 0
    last_backup: Path | None = None


@dataclass(frozen=True)
class BackupResult:
    """A backup taken (``path``), or why none was (``skipped``: unchanged, or the error)."""

    collection: str
    path: Path | None
    skipped: str = ""


# -- the question log's views (``retrieval.insight``) ------------------------------------------
VoteOutcome = Literal["recorded", "changed", "unchanged", "missing", "off"]


@dataclass(frozen=True)
class UnansweredGroup:
    """Questions of one meaning that the bot abstained on or that got a 👎."""

    question: str  # the most often asked wording (the latest among equals)
    count: int
    last_asked: str  # ISO 8601, UTC
    wordings: list[str]  # the other wordings, most frequent first
    abstained: int  # how many of ``count`` the bot abstained on
    down_votes: int
    reasons: list[str]  # the 👎 reasons, newest first

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PeriodStats:
    """The log's figures over the last ``days`` days."""

    days: int
    questions: int
    answered: int
    up: int
    down: int
    p50_s: float | None
    p95_s: float | None
    top_articles: list[tuple[str, int]]  # (title, citations), most cited first

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.questions if self.questions else None

    def to_json(self) -> dict[str, Any]:
        return {"days": self.days, "questions": self.questions, "answered": self.answered,
                "answered_share": self.answered_share, "up": self.up, "down": self.down,
                "p50_s": self.p50_s, "p95_s": self.p95_s,
                "top_articles": [{"title": t, "citations": n} for t, n in self.top_articles]}


@dataclass(frozen=True)
class MigrationResult:
    """One collection, its question log, or the follow-up memory copied into PostgreSQL by
    ``articlebot migrate``: what the source holds, what this run copied, and whether the
    target now holds all of it (``detail`` says what is missing or why it failed)."""

    collection: str
    items: int  # articles (log entries, conversations) in the source
    copied: int  # of them copied by this run; the others were there already
    chunks: int = 0  # passages of the source's articles (votes, for a log), all in the target
    ok: bool = True
    detail: str = ""
    kind: Literal["articles", "log", "memory"] = "articles"
