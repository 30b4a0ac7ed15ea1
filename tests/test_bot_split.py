"""Splitting replies at 2,000 characters, and formatting engine results for Discord."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.discordbot import format as fmt
from bot.discordbot.split import MESSAGE_LIMIT, split_message
from retrieval.types import Answer, ArticleInfo, Citation, IngestResult, Passage

SENTENCE = "The harbour committee met again on Tuesday to discuss the pier lights. "


def paragraph(chars: int, seed: int = 0) -> str:
    text = (f"Paragraph {seed}. " + SENTENCE * (chars // len(SENTENCE) + 1))[:chars]
    return text.rsplit(" ", 1)[0] + "."


def test_short_text_is_one_message_and_blank_text_none() -> None:
    assert split_message("  He Lifeng  ") == ["He Lifeng"]
    assert split_message(" \n ") == []
    assert split_message("x" * MESSAGE_LIMIT) == ["x" * MESSAGE_LIMIT]


def test_paragraphs_are_packed_whole_and_split_between_paragraphs() -> None:
    paras = [paragraph(900, n) for n in range(3)]
    parts = split_message("\n\n".join(paras))
    assert parts == [paras[0] + "\n\n" + paras[1], paras[2]]


def test_a_paragraph_longer_than_a_message_is_split_between_sentences() -> None:
    long = paragraph(5000)
    parts = split_message(long)
    assert len(parts) == 3 and all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == long


def test_a_code_block_moves_whole_to_the_next_message() -> None:
    code = "```python\n" + "\n".join(f"print({n})  # step {n}" for n in range(40)) + "\n```"
    text = paragraph(1500) + "\n\n" + code + "\n\nThat is all."
    parts = split_message(text)
    assert parts == [paragraph(1500), code + "\n\nThat is all."]


def test_a_code_block_longer_than_a_message_is_split_between_lines_and_fenced_again() -> None:
    lines = [f"value_{n} = compute({n}, {n * n})" for n in range(200)]
    parts = split_message("Here it is:\n```py\n" + "\n".join(lines) + "\n```")
    assert len(parts) >= 3
    for part in parts:
        assert len(part) <= MESSAGE_LIMIT
        code = part[part.index("```py"):] if "```py" in part else part
        assert code.startswith("```py\n") and code.endswith("\n```")
    kept = [line for p in parts for line in p.split("\n") if line.startswith("value_")]
    assert kept == lines


def test_citations_are_never_cut() -> None:
    answer = Answer(paragraph(1700), False, [
        Citation(1, f"Article {n}", n, "A quoted sentence with a full stop. And another. " * 2,
                 0.5) for n in range(12)])
    parts = split_message(fmt.answer_text(answer))
    assert len(parts) >= 2
    lines = [line for p in parts for line in p.split("\n") if line.startswith("[")]
    assert len(lines) == 12
    assert all(re.fullmatch(r"\[\d+\] \*Article \d+\*, paragraph \d+: “.*”", x) for x in lines)
    assert parts[1].startswith("**Sources**")  # the sources block moved whole


def test_a_word_longer_than_a_message_is_cut_as_a_last_resort() -> None:
    parts = split_message("see " + "x" * 4500 + " done")
    assert all(len(p) <= MESSAGE_LIMIT for p in parts)
    assert "".join(parts).replace(" ", "") == "see" + "x" * 4500 + "done"


def test_tiny_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        split_message("text", limit=10)


words = st.text(alphabet="abcdefgh .!?", min_size=1, max_size=300)
blocks = st.one_of(
    words,
    st.lists(words, min_size=1, max_size=30).map(lambda ws: "```\n" + "\n".join(ws) + "\n```"),
    st.lists(words, min_size=1, max_size=5).map(lambda ws: "\n".join(f"[1] {w}" for w in ws)),
)


@given(st.lists(blocks, min_size=1, max_size=30), st.integers(min_value=40, max_value=2000))
def test_every_part_fits_and_no_code_block_is_left_open(parts_in: list[str], limit: int) -> None:
    text = "\n\n".join(parts_in)
    parts = split_message(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    for part in parts:
        fences = [line for line in part.split("\n") if line.lstrip().startswith("```")]
        assert len(fences) % 2 == 0, part
    if "```" not in text and "[1]" not in text:
        assert "".join("".join(parts).split()) == "".join(text.split())


def test_answer_text_numbers_sources_with_1_based_paragraphs_and_escapes_markdown() -> None:
    answer = Answer("He Lifeng", False, [Citation(7, "Trade *Talks*", 3, "He Lifeng met_them.",
                                                  0.8)])
    assert fmt.answer_text(answer) == (
        "He Lifeng\n\n**Sources**\n[1] *Trade \\*Talks\\**, paragraph 4: “He Lifeng met\\_them.”")
    abstained = Answer("The articles I have don't cover that.", True, [])
    assert fmt.answer_text(abstained) == "The articles I have don't cover that."


def test_small_texts() -> None:
    assert fmt.preview(" He ") == "He …"
    assert len(fmt.preview("x" * 5000)) == fmt.PREVIEW_LIMIT + 1
    assert fmt.queued(1) == "⏳ 1 question is ahead of yours…"
    assert fmt.queued(3) == "⏳ 3 questions are ahead of yours…"
    info = ArticleInfo(2, "Harbour News", 5, "2025-05-01T10:00:00+00:00", "x.txt", "ada", "h")
    assert fmt.articles_text([info], "this server") == (
        "**1 article in this server**\n2. **Harbour News** — added 2025-05-01 by ada, 5 chunks")
    assert fmt.articles_text([], "this server").startswith("No articles in this server yet")
    assert fmt.ingest_text(IngestResult(info, "replaced", 0.1)) == (
        "Replaced **Harbour News** (id 2, 5 chunks).")
    passage = Passage(1, 2, "Harbour News", 0, 0, 10, "The ferry\nruns.", 0.734)
    assert fmt.search_text("ferry", [passage]) == (
        "**Top passages for** “ferry”\n\n"
        "**1.** *Harbour News*, paragraph 1 — score 0.73\n> The ferry runs.")
