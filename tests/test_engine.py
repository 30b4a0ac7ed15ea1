"""The engine end to end on the real packaged models: ingest, ask, cite, abstain, summarise."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes import QueuedLLM

from retrieval.engine import Engine
from retrieval.errors import InputError, NotFoundError
from retrieval.evaluation.benchmark import made_up_articles
from retrieval.summary import faithfulness as fa
from retrieval.types import Turn

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLE_TITLE = "China and U.S. Trade Talks: A Hardball Approach Amidst Tensions"

VOLCANO = (
    "Volcano Watch\n\n"
    "Mount Etna erupted on Sunday, sending a column of ash four kilometres into the sky over "
    "Sicily.\n\n"
    "Catania airport closed for six hours while crews cleared ash from the runway."
)


def test_the_sample_article_is_preloaded_once(engine: Engine) -> None:
    articles = engine.list_articles()
    assert [a.title for a in articles] == [SAMPLE_TITLE]
    assert articles[0].chunks > 0
    engine.close()
    assert [a.title for a in engine.list_articles()] == [SAMPLE_TITLE]


def test_a_removed_sample_article_is_not_preloaded_again(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine()
    engine.remove(SAMPLE_TITLE)
    again = make_engine(data_dir=engine.settings.data_dir)
    assert again.list_articles() == []


def test_the_demo_question_is_answered_with_a_citation(engine: Engine) -> None:
    streamed: list[str] = []
    answer = engine.ask("Where will the talks take place?", on_token=streamed.append)
    assert not answer.abstained
    assert "Switzerland" in answer.text
    assert "".join(streamed).strip().startswith("Switzerland")
    assert answer.citations
    citation = answer.citations[0]
    assert citation.title == SAMPLE_TITLE
    assert "Switzerland" in citation.quote
    text = engine.collection().store.article_text(citation.article_id)
    assert "Switzerland" in text.split("\n\n")[citation.paragraph]
    assert answer.timings["total_s"] > 0


def test_a_question_the_articles_do_not_cover_is_refused_without_a_guess(
    engine: Engine,
) -> None:
    answer = engine.ask("What is the capital of France?")
    assert answer.abstained
    assert "Paris" not in answer.text
    assert "don't cover" in answer.text
    assert answer.citations == []


def test_follow_up_questions_retrieve_with_the_previous_turn(engine: Engine) -> None:
    first = engine.ask("Who is China's lead trade negotiator?")
    follow = engine.ask("Where will he meet the treasury secretary?",
                        history=[Turn("Who is China's lead trade negotiator?", first.text)])
    assert not follow.abstained
    assert "Switzerland" in " ".join(p.text for p in follow.passages)


def test_reingesting_identical_content_is_a_no_op(engine: Engine) -> None:
    first = engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    again = engine.ingest_bytes(VOLCANO.encode(), "volcano-copy.txt")
    assert first.status == "added"
    assert again.status == "unchanged"
    assert again.article.id == first.article.id
    assert len(engine.list_articles()) == 2


def test_new_content_under_an_existing_title_replaces_the_old_version(engine: Engine) -> None:
    first = engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    updated = VOLCANO.replace("six hours", "nine hours")
    second = engine.ingest_bytes(updated.encode(), "volcano.txt")
    assert second.status == "replaced"
    titles = [a.title for a in engine.list_articles()]
    assert titles.count("Volcano Watch") == 1
    texts = " ".join(p.text for p in engine.search("How long was Catania airport closed?"))
    assert "nine hours" in texts and "six hours" not in texts
    with pytest.raises(NotFoundError):
        engine.get_article(str(first.article.id))


def test_questions_can_be_limited_to_one_article(engine: Engine) -> None:
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    passages = engine.search("trade negotiator", article="Volcano Watch")
    assert passages and {p.title for p in passages} == {"Volcano Watch"}
    answer = engine.ask("Which airport closed?", article="volcano watch")
    assert "Catania" in answer.text


def test_empty_and_overlong_questions_are_refused(engine: Engine) -> None:
    with pytest.raises(InputError, match="Ask a question about the articles"):
        engine.ask("   ")
    with pytest.raises(InputError, match="limited to 1000 characters"):
        engine.ask("why " * 300)


def test_unknown_articles_are_reported(engine: Engine) -> None:
    with pytest.raises(NotFoundError):
        engine.ask("Who?", article="No such article")
    with pytest.raises(NotFoundError):
        engine.remove("12345")


def test_bad_uploads_store_nothing(engine: Engine, tmp_path: Path) -> None:
    before = engine.list_articles()
    for data, name in [(b"", "empty.txt"), (b"\x89PNG\r\n\x1a\n" + bytes(200), "img.txt"),
                       (b"x", "notes.docx")]:
        with pytest.raises(InputError):
            engine.ingest_bytes(data, name)
    assert engine.list_articles() == before


def test_a_summary_covers_the_article_and_is_cached(engine: Engine) -> None:
    first = engine.summarize(SAMPLE_TITLE)
    assert not first.cached
    assert len(first.text.split()) >= 5
    second = engine.summarize(SAMPLE_TITLE)
    assert second.cached and second.text == first.text


def test_a_long_article_costs_at_most_one_model_call_per_bullet(
    make_engine: Callable[..., Engine],
) -> None:
    # The model shortens long sentences; the double counts its calls (the real model answers).
    engine = make_engine(wrap_llm=lambda real: QueuedLLM(real=real),
                         **{"summary.compress": "on"})
    # Forty stories end to end: ~20,000 words, ~1,000 sentences (BBC News where ../shared is).
    bbc = SHARED / "eval" / "bbc-news" / "articles.jsonl"
    if bbc.is_file():
        with bbc.open() as lines:
            texts = [json.loads(line)["text"] for _, line in zip(range(40), lines, strict=False)]
    else:
        texts = [article.text for article in made_up_articles(40)]
    result = engine.ingest_bytes(("A Long Read\n\n" + "\n\n".join(texts)).encode(),
                                 "long-read.txt")
    llm = engine.llm
    assert isinstance(llm, QueuedLLM)
    summary = engine.summarize(str(result.article.id), length="long")
    assert len(llm.prompts) <= engine.settings.summary.max_points
    assert 3 <= len(summary.points) <= engine.settings.summary.max_points


def test_a_long_summary_of_the_sample_is_faithful_distinct_and_cites_paragraphs(
    engine: Engine,
) -> None:
    streamed: list[str] = []
    summary = engine.summarize(SAMPLE_TITLE, length="long", on_token=streamed.append)
    article = engine.collection().store.article_text(summary.article.id)
    paragraphs = article.split("\n\n")
    lines = summary.text.splitlines()
    assert 3 <= len(lines) <= 6
    assert all(re.fullmatch(r"- .{20,} \(paragraph \d+\)", line) for line in lines)
    assert [p.paragraph for p in summary.points] == sorted(p.paragraph for p in summary.points)
    for point in summary.points:
        # Every name and number of a bullet is in the paragraph it cites.
        assert fa.unsupported(point.text, paragraphs[point.paragraph]) == []
        assert not fa.echoes_title(point.text, SAMPLE_TITLE)
    assert fa.duplicates([p.text for p in summary.points]) == []
    assert "".join(streamed) == summary.text
    again = engine.summarize(SAMPLE_TITLE, length="long")
    assert again.cached and again.text == summary.text
