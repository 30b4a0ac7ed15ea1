"""Word-level checks that keep a summary to what its article says.

Plain token sets, no model: a line is *supported* by a source when every name and number in
it occurs in the source and most of its content words do too; two texts *echo* each other
when their content words overlap heavily (Jaccard, or containment of the shorter in the
longer). The same functions build summaries and score them in ``articlebot eval
--summaries``. The word rules they apply (tokens, names and numbers, stop words, stems) are
``retrieval.text``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from retrieval.text.names import CALENDAR, names_and_numbers, tokens
from retrieval.text.words import STOPWORDS, stem


def content_stems(text: str) -> set[str]:
    """The stems (``retrieval.text.words.stem``) of ``text``'s content words."""
    return {stem(t.lower) for t in tokens(text)
            if not t.is_number and t.lower not in STOPWORDS and len(t.text) > 1}


def unsupported(line: str, source: str) -> list[str]:
    """The names and numbers of ``line`` that ``source`` lacks (empty: all supported).

    Case is ignored when looking a word up in the source, so a line that starts with an
    ordinary word ("Profits rose") is not flagged; an invented name ("Colin Salmon") or
    number ("1981") is.
    """
    known = {t.lower for t in tokens(source)}
    return sorted({t.lower for t in names_and_numbers(line)} - known)


def content_support(line: str, source: str) -> float:
    """Share of ``line``'s content words (stemmed) that occur in ``source``; 1.0 if none."""
    words = content_stems(line)
    if not words:
        return 1.0
    return len(words & content_stems(source)) / len(words)


def is_supported(line: str, source: str, min_content_share: float) -> bool:
    return not unsupported(line, source) and content_support(line, source) >= min_content_share


def overlap(a: str, b: str) -> tuple[float, float]:
    """(Jaccard of the content-word sets, containment of the smaller set in the other)."""
    return set_overlap(content_stems(a), content_stems(b))


def set_overlap(sa: set[str], sb: set[str]) -> tuple[float, float]:
    if not sa or not sb:
        return 0.0, 0.0
    common = len(sa & sb)
    return common / len(sa | sb), common / min(len(sa), len(sb))


def echoes(a: str, b: str, *, jaccard: float = 0.5, containment: float = 0.8) -> bool:
    """Whether ``a`` and ``b`` say the same thing in (nearly) the same words."""
    return stems_echo(content_stems(a), content_stems(b), jaccard, containment)


def stems_echo(sa: set[str], sb: set[str], jaccard: float = 0.5, containment: float = 0.8
               ) -> bool:
    j, c = set_overlap(sa, sb)
    return j >= jaccard or c >= containment


def echoes_title(line: str, title: str) -> bool:
    """A line that repeats the headline: most of its words are the title's, and it adds at
    most one word or number of its own.

    Measured one way (the line's words in the title): a lead sentence that contains the
    title's words and adds the facts is not an echo.
    """
    sl, st = content_stems(line), content_stems(title)
    if not sl or not st:
        return False
    contained = len(sl & st) / len(sl)
    title_numbers = {t.lower for t in tokens(title) if t.is_number}
    new = len(sl - st) + len({t.lower for t in tokens(line) if t.is_number} - title_numbers)
    return contained >= 0.75 or (contained >= 0.5 and new < 2)


def names(text: str, *, article: str | None = None) -> list[str]:
    """Capitalised names in ``text``, in order, without repeats.

    A capitalised word that opens a sentence counts only if ``article`` (default: ``text``)
    also capitalises it inside a sentence; weekdays, months and function words never count.
    """
    inside = {t.lower for t in tokens(article or text)
              if t.is_capitalised and not t.start_of_sentence}
    seen: dict[str, None] = {}
    for token in tokens(text):
        word = token.lower
        if not token.is_name or word in CALENDAR or len(word) < 2:
            continue
        if token.start_of_sentence and word not in inside:
            continue
        seen.setdefault(word, None)
    return list(seen)


def name_coverage(summary: str, wanted: Sequence[str]) -> float | None:
    """Share of ``wanted`` names (lower case) that ``summary`` mentions; None if none wanted."""
    if not wanted:
        return None
    said = {t.lower for t in tokens(summary)}
    return sum(1 for name in wanted if name in said) / len(wanted)


def duplicates(lines: Iterable[str]) -> list[tuple[int, int]]:
    """Index pairs of lines that echo each other."""
    items = list(lines)
    return [(i, j) for i in range(len(items)) for j in range(i + 1, len(items))
            if echoes(items[i], items[j])]
