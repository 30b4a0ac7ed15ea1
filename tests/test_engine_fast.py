"""The engine on deterministic doubles (no model load): storage, search, streaming, failures.

The same behaviours run on the real models in ``test_engine.py``; here they take
milliseconds, so they are the tier to iterate on (``pytest -m "not models"``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fakes import HashingEmbedder, QueuedLLM

from retrieval.engine import SAMPLE_NAME, Engine, sample_article_bytes
from retrieval.errors import InputError, ModelError, NotFoundError

VOLCANO = (
    "Volcano Watch\n\n"
    "Mount Etna erupted on Sunday, sending a column of ash four kilometres into the sky.\n\n"
    "Catania airport closed for six hours while crews cleared ash from the runway."
)
FERRY = (
    "Ferry Timetable\n\n"
    "The island ferry to Portree now leaves at seven in the morning on weekdays.\n\n"
    "Tickets for the ferry are sold at the harbour office and on board."
)


@pytest.fixture()
def engine(fast_engine: Callable[..., Engine]) -> Engine:
    built = fast_engine()
    built.collection().store  # noqa: B018 - opens the default collection (preloads the sample)
    return built


def test_doubles_are_deterministic_and_share_words() -> None:
    embed = HashingEmbedder()
    a, b, c = embed.embed(["ash closed the airport", "the airport closed", "ferry tickets"])
    assert (embed.embed(["ash closed the airport"])[0] == a).all()
    assert float(a @ b) > 0.5 > float(a @ c)


def test_ingest_list_and_remove_without_models(engine: Engine) -> None:
    added = engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    assert added.status == "added" and added.article.title == "Volcano Watch"
    assert "Volcano Watch" in [a.title for a in engine.list_articles()]
    assert engine.ingest_bytes(VOLCANO.encode(), "copy.txt").status == "unchanged"
    engine.remove("Volcano Watch")
    assert "Volcano Watch" not in [a.title for a in engine.list_articles()]
    with pytest.raises(NotFoundError):
        engine.remove("Volcano Watch")


def test_search_finds_the_passage_that_shares_the_questions_words(engine: Engine) -> None:
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    engine.ingest_bytes(FERRY.encode(), "ferry.txt")
    best = engine.search("When does the ferry to Portree leave?", k=1)[0]
    assert best.title == "Ferry Timetable" and "seven in the morning" in best.text
    only = engine.search("ferry", article="Volcano Watch")
    assert only and {p.title for p in only} == {"Volcano Watch"}


def test_the_sample_article_is_preloaded_into_the_default_collection(engine: Engine) -> None:
    titles = [a.title for a in engine.list_articles()]
    assert len(titles) == 1
    assert engine.ingest_bytes(sample_article_bytes(), SAMPLE_NAME).status == "unchanged"


def test_bad_input_is_one_error_and_stores_nothing(engine: Engine) -> None:
    before = engine.list_articles()
    for data, name in [(b"", "empty.txt"), (b"x", "notes.docx")]:
        with pytest.raises(InputError):
            engine.ingest_bytes(data, name)
    with pytest.raises(InputError):
        engine.ask("   ")
    assert engine.list_articles() == before


def test_a_model_failing_mid_answer_is_one_model_error(fast_engine: Callable[..., Engine]) -> None:
    llm = QueuedLLM(ModelError("The model server broke off mid-answer."))
    # The retrieval gate is calibrated for MiniLM's scores: off here, the model must be asked.
    # Live streaming: without the extraction fallback the answer is not held back.
    engine = fast_engine(llm=llm, **{"search.min_score": -1.0, "search.min_support": -10.0,
                                     "answer.extract_fallback": False})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    streamed: list[str] = []
    with pytest.raises(ModelError, match="broke off"):
        engine.ask("Which airport closed after Mount Etna erupted?", on_token=streamed.append)
    assert llm.failed.is_set()
    assert "".join(streamed).strip() == llm.partial  # forwarded before the failure


def test_a_free_answer_the_check_rejects_is_never_streamed(
    fast_engine: Callable[..., Engine],
) -> None:
    """With the extraction fallback, the reader sees only the answer that is given."""
    llm = QueuedLLM("Picasso painted it", "Catania airport")  # free answer, then extraction
    engine = fast_engine(llm=llm, **{"search.min_score": -1.0, "search.min_support": -10.0})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    streamed: list[str] = []
    answer = engine.ask("Which airport closed after Mount Etna erupted?",
                        on_token=streamed.append)
    assert answer.text == "Catania airport" and not answer.abstained
    assert "".join(streamed).strip() == "Catania airport"
    assert len(llm.prompts) == 2  # the model was asked twice; only the second answer showed


def test_a_free_answer_that_only_echoes_the_question_is_replaced_by_an_extracted_phrase(
    fast_engine: Callable[..., Engine],
) -> None:
    # "the airport" is in the passage, so grounding alone would accept it.
    llm = QueuedLLM("the airport", "Catania airport")
    engine = fast_engine(llm=llm, **{"search.min_score": -1.0, "search.min_support": -10.0})
    engine.ingest_bytes(VOLCANO.encode(), "volcano.txt")
    answer = engine.ask("Which airport closed after Mount Etna erupted?")
    assert answer.text == "Catania airport" and not answer.abstained
    assert len(llm.prompts) == 2
