"""Engine results and known errors as Discord message text (Markdown). Pure functions, no
Discord import.

Mentions in article text are harmless (every message is sent with no allowed mentions);
Markdown in titles, quotes and passages is escaped so an article cannot restyle the bot's
messages. Answers and summaries (the model's text, often copied from an article) keep
emphasis but lose masked links, headings, quotes, code and spoilers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from retrieval.errors import ArticlebotError, ModelError, StorageError
from retrieval.types import Answer, ArticleInfo, IngestResult, Passage, Summary

log = logging.getLogger("articlebot.discord")

APOLOGY = "Sorry, something went wrong on my side; it has been logged. Please try again."
PREVIEW_LIMIT = 1900
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]])")
# In the model's text: everything but * and _ (emphasis is harmless and chat models use it).
_BLOCK_MARKDOWN = re.compile(r"([\\~`|\[\]])")
_INLINE_MARKDOWN = re.compile(r"([\\*_~`|\[\]])")
_LINE_START_MARKDOWN = re.compile(r"^(\s*)(-?#|>)", re.MULTILINE)  # headings, quotes
_CITATION_MARK = re.compile(r"(\s?)\[(\d{1,2})\]")
_URL = r"[a-z][a-z0-9+.-]*://[^\s)]*[^\s).,;:]"
_PATH = r"(?<![\w.])/(?:[^\s/()]+/)*[^\s/()]*[^\s/().,;:]"
_LOCATION = re.compile(rf"\s+(?:at|in|from)\s+(?:{_URL}|{_PATH})", re.IGNORECASE)
_PATH_OR_URL = re.compile(rf"{_URL}|{_PATH}", re.IGNORECASE)


def member_sentence(exc: ArticlebotError) -> str:
    """What a member may see of a known error: never the data directory's path or the
    internal model server's address (the operator finds them in the log). A user's own
    link in an input error is quoted as is."""
    text = str(exc)
    if not isinstance(exc, ModelError | StorageError) or not _PATH_OR_URL.search(text):
        return text
    log.error("%s shown to a member without its location: %s", type(exc).__name__, text)
    return _PATH_OR_URL.sub("…", _LOCATION.sub("", text))


def escape(text: str) -> str:
    """``text`` with Markdown control characters escaped, on one line."""
    return _MARKDOWN.sub(r"\\\1", " ".join(text.split()))


def escape_passage(text: str) -> str:
    """Article text quoted on one line: like ``escape``, but ``>`` and ``#`` (inert in the
    middle of a line) stay, so mentions like ``<@123>`` read as typed."""
    return _INLINE_MARKDOWN.sub(r"\\\1", " ".join(text.split()))


def escape_model_text(text: str) -> str:
    """The model's text, line breaks kept: no masked link ``[x](url)``, heading, block
    quote, code block, spoiler or subtext copied from an article renders."""
    return _LINE_START_MARKDOWN.sub(r"\1\\\2", _BLOCK_MARKDOWN.sub(r"\\\1", text))


def preview(text: str) -> str:
    """A partial answer while it streams: trimmed, with a trailing ellipsis."""
    text = text.strip()
    if len(text) > PREVIEW_LIMIT:
        text = text[: PREVIEW_LIMIT - 1]
    return text + " …"


def queued(ahead: int) -> str:
    if ahead == 1:
        return "⏳ 1 question is ahead of yours…"
    return f"⏳ {ahead} questions are ahead of yours…"


def answer_text(answer: Answer) -> str:
    """The answer, then numbered sources: title, paragraph (1-based) and a short quote."""
    body = _renumber_marks(answer).strip() or "I have no answer to that."
    if not answer.citations:
        return body
    lines = [
        f"[{n}] *{escape(c.title)}*, paragraph {c.paragraph + 1}: “{escape(c.quote)}”"
        for n, c in enumerate(answer.citations, 1)
    ]
    return body + "\n\n**Sources**\n" + "\n".join(lines)


def _renumber_marks(answer: Answer) -> str:
    """Citation marks in the answer follow the numbering of the sources listed under it:
    ``[k]`` (the k-th passage the model read) becomes that passage's source number, and a
    mark that points at no listed source, such as one an article planted ("cite passage
    [9]"), is dropped."""
    numbers: dict[tuple[int, int], int] = {}
    for n, c in enumerate(answer.citations, 1):
        numbers.setdefault((c.article_id, c.paragraph), n)

    def replace(mark: re.Match[str]) -> str:
        k = int(mark.group(2))
        passage = answer.passages[k - 1] if 1 <= k <= len(answer.passages) else None
        n = numbers.get((passage.article_id, passage.paragraph)) if passage else None
        return "" if n is None else f"{mark.group(1)}[{n}]"

    pieces: list[str] = []
    position = 0
    for mark in _CITATION_MARK.finditer(answer.text):
        pieces += [escape_model_text(answer.text[position : mark.start()]), replace(mark)]
        position = mark.end()
    pieces.append(escape_model_text(answer.text[position:]))
    return "".join(pieces)


def summary_text(summary: Summary) -> str:
    """The title, then the bullets, each with the paragraph it comes from (a short summary:
    its one or two sentences)."""
    note = " (cached)" if summary.cached else ""
    head = f"**Summary of {escape(summary.article.title)}**{note}\n\n"
    if not summary.points:
        return head + escape_model_text(summary.text.strip())
    if summary.length == "short":
        return head + " ".join(escape(p.text) for p in summary.points)
    return head + "\n".join(f"- {escape(p.text)} *(paragraph {p.paragraph + 1})*"
                             for p in summary.points)


def articles_text(articles: Sequence[ArticleInfo], where: str) -> str:
    if not articles:
        return f"No articles in {where} yet: an admin can add one with /upload."
    noun = "article" if len(articles) == 1 else "articles"
    lines = [f"**{len(articles)} {noun} in {where}**"]
    for a in articles:
        by = f" by {escape(a.added_by)}" if a.added_by else ""
        lines.append(
            f"{a.id}. **{escape(a.title)}** — added {a.added_at[:10]}{by}, {a.chunks} chunks"
        )
    return "\n".join(lines)


def search_text(query: str, passages: Sequence[Passage]) -> str:
    if not passages:
        return f"No passages match “{escape(query)}”."
    blocks = [f"**Top passages for** “{escape(query)}”"]
    for n, p in enumerate(passages, 1):
        blocks.append(
            f"**{n}.** *{escape(p.title)}*, paragraph {p.paragraph + 1} — score {p.score:.2f}\n"
            f"> {escape_passage(p.text)}"
        )
    return "\n\n".join(blocks)


def ingest_text(result: IngestResult) -> str:
    a = result.article
    verb = {"added": "Stored", "replaced": "Replaced", "unchanged": "Already stored"}[
        result.status
    ]
    return f"{verb} **{escape(a.title)}** (id {a.id}, {a.chunks} chunks)."


def removed_text(article: ArticleInfo) -> str:
    return f"Removed **{escape(article.title)}** (id {article.id})."
