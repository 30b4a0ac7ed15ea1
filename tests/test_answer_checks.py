"""The answer check and the citations, on fixed passages (no model)."""

from __future__ import annotations

from retrieval.answer.grounding import cite, echoes_the_question, grounding, verbatim_form
from retrieval.types import Passage


def _passage(text: str, article_id: int = 1, title: str = "Talks", paragraph: int = 0
             ) -> Passage:
    return Passage(chunk_id=article_id * 10 + paragraph, article_id=article_id, title=title,
                   paragraph=paragraph, start=0, end=len(text), text=text, score=1.0,
                   dense=0.5)


DATED = _passage("The talks open in Geneva on 12 March 2024, officials said.")


def test_a_number_is_not_supported_by_a_longer_number_that_starts_with_it() -> None:
    assert grounding("20", [DATED]) == 0.0
    assert grounding("2", [DATED]) == 0.0
    assert grounding("12 March 2024", [DATED]) == 1.0


def test_a_decade_supports_its_year_and_inflections_support_their_stem() -> None:
    decade = _passage("Jazz spread across Europe in the 1950s as bands toured.")
    assert grounding("1950", [decade]) == 1.0
    assert grounding("band tour", [decade]) == 1.0
    # A cut-off word is not a word of the passage (the stems of "Eur" and "Europe" differ).
    assert grounding("Eur", [decade]) == 0.0


def test_an_answer_of_stop_words_only_is_not_grounded() -> None:
    assert grounding("No", [DATED]) == 0.0
    assert grounding("It was", [DATED]) == 0.0


def test_a_bracket_in_the_answer_does_not_choose_the_citation() -> None:
    quoting = _passage("Officials said the minister resigned [2] after the vote on Friday.",
                       article_id=1, title="Minister quits")
    other = _passage("The football club signed a new striker for the season.",
                     article_id=2, title="Transfer news")
    cited = cite("resigned [2]", "What did the minister do?", [quoting, other], 160)
    assert [c.article_id for c in cited] == [1]
    assert "resigned" in cited[0].quote


def test_the_citation_quotes_the_sentence_that_holds_the_answer() -> None:
    passage = _passage("China signalled it is ready to talk. He Lifeng will meet Scott Bessent "
                       "in Switzerland. Analysts expect hard bargaining.")
    cited = cite("Switzerland", "Where will they meet?", [passage], 160)
    assert cited[0].quote == "He Lifeng will meet Scott Bessent in Switzerland."


def test_a_long_sentence_is_cut_around_the_answer() -> None:
    text = ("The committee, which met for " + "many long hours " * 12 +
            "before agreeing, finally chose Oslo as the host city.")
    cited = cite("Oslo", "Which city was chosen?", [_passage(text)], 60)
    assert "Oslo" in cited[0].quote and len(cited[0].quote) <= 60


def test_an_answer_of_only_the_questions_words_echoes_it() -> None:
    question = "Which US administration is China ready to talk with?"
    assert echoes_the_question("the US administration", question)
    assert echoes_the_question("China", question)
    assert not echoes_the_question("the Trump administration", question)
    assert not echoes_the_question("Switzerland", "Where are the talks being held?")


def test_an_answer_at_the_end_of_a_long_sentence_is_whole_in_the_quote() -> None:
    text = ('"China is attempting to position itself as responsible while still conveying a '
            'crucial message: play fair in these discussions," stated Yun Sun, a prominent '
            'analyst at the Stimson Center.')
    passage = _passage(text)
    [citation] = cite("the Stimson Center", "Where does Yun Sun work?", [passage], 160)
    assert "Stimson Center" in citation.quote and len(citation.quote) <= 160
    assert citation.quote.startswith("…")
    [start] = cite("China is attempting", "What is China doing?", [passage], 160)
    assert start.quote.startswith('"China is attempting') and start.quote.endswith("…")


def test_a_generated_lead_word_is_dropped_so_the_answer_is_the_passages_own_words() -> None:
    passage = _passage("Beijing's willingness to engage may signal a shift, officials said.")
    assert verbatim_form("in Beijing", [passage]) == "Beijing"
    # Already verbatim, or not found even without its lead words: unchanged.
    assert verbatim_form("officials said", [passage]) == "officials said"
    assert verbatim_form("in Geneva", [passage]) == "in Geneva"
