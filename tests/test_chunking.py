"""Chunking: sentence-aligned, within the token limit, offsets that point into the text."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.ingest.chunking import chunk_paragraphs
from retrieval.models.embedder import Embedder
from retrieval.text.sentences import sentence_around, split_sentences

EMBEDDER = Embedder("packaged")
count = EMBEDDER.count_tokens


def test_sentences_do_not_split_after_abbreviations() -> None:
    text = "U.S. officials met Mr. Smith on Monday. He said no. Talks resume in Geneva!"
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == [
        "U.S. officials met Mr. Smith on Monday.",
        "He said no.",
        "Talks resume in Geneva!",
    ]


def test_a_paragraph_break_ends_the_sentence_around_a_span() -> None:
    # A headline has no full stop: the span's sentence still starts after the break.
    text = "Talks resume.\n\nTrade Talks Resume\n\nThey meet in Geneva. Markets rose."
    at = text.index("Geneva")
    start, end = sentence_around(text, at, at + 6)
    assert text[start:end] == "They meet in Geneva."
    head = text.index("Trade")
    assert text[slice(*sentence_around(text, head, head + 5))] == "Trade Talks Resume"


def test_chunks_respect_the_token_limit_and_sentence_boundaries() -> None:
    paragraph = " ".join(f"Sentence number {i} talks about tariffs and trade." for i in range(40))
    chunks = chunk_paragraphs([paragraph], count, max_tokens=48)
    assert len(chunks) > 1
    for chunk in chunks:
        assert count(chunk.text) <= 48
        assert chunk.text.endswith(".")
        assert chunk.text.startswith("Sentence")


def test_chunks_never_cross_paragraphs_and_offsets_point_into_the_joined_text() -> None:
    paragraphs = ["First paragraph. It has two sentences.", "Second one here.", "Third."]
    text = "\n\n".join(paragraphs)
    chunks = chunk_paragraphs(paragraphs, count, max_tokens=128)
    assert [c.paragraph for c in chunks] == [0, 1, 2]
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
    assert [c.seq for c in chunks] == [0, 1, 2]


def test_an_overlong_sentence_is_cut_at_words_to_fit_the_embedder() -> None:
    sentence = " ".join(["supercalifragilistic"] * 400) + "."
    chunks = chunk_paragraphs([sentence], count, max_tokens=256)
    assert len(chunks) > 1
    assert all(count(c.text) <= 256 for c in chunks)
    assert " ".join(c.text for c in chunks) == sentence


def test_overlap_repeats_the_last_sentence_of_the_previous_chunk() -> None:
    paragraph = " ".join(f"Fact {i} is stated here plainly." for i in range(12))
    chunks = chunk_paragraphs([paragraph], count, max_tokens=24, overlap_sentences=1)
    for before, after in itertools.pairwise(chunks):
        last_sentence = before.text.rsplit(". ", 1)[-1]
        assert after.text.startswith(last_sentence.rstrip("."))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=300).map(str.strip).filter(bool),
                min_size=1, max_size=5))
def test_chunks_cover_every_word_and_offsets_are_valid(paragraphs: list[str]) -> None:
    text = "\n\n".join(paragraphs)
    chunks = chunk_paragraphs(paragraphs, count, max_tokens=32)
    for chunk in chunks:
        assert 0 <= chunk.start < chunk.end <= len(text)
        assert text[chunk.start : chunk.end] == chunk.text
    covered = " ".join(c.text for c in chunks).split()
    for word in " ".join(paragraphs).split():
        assert word in covered


def test_a_long_text_without_sentence_ends_chunks_in_linear_time() -> None:
    import time

    words = " ".join(f"word{i % 997}" for i in range(200_000))
    started = time.perf_counter()
    chunks = chunk_paragraphs([words], count, max_tokens=128)
    elapsed = time.perf_counter() - started
    # Generous ceiling: the quadratic version needed hours for this; linear takes seconds.
    assert elapsed < 60, elapsed
    assert all(count(c.text) <= 128 for c in chunks[:50])
    assert chunks[-1].end == len(words)


def test_many_abbreviation_stops_without_a_boundary_chunk_in_linear_time() -> None:
    import time

    text = " ".join("U.S. e.g. Mr. x." for _ in range(30_000))
    started = time.perf_counter()
    chunks = chunk_paragraphs([text], count, max_tokens=128)
    assert time.perf_counter() - started < 60
    assert chunks and chunks[-1].end == len(text)
