"""A server that uploaded one article: its questions answered from it, others refused.

Real models, the bundled sample article alone in its collection. The questions are our own,
written after the answer path was tuned and never used to tune it.
"""

from __future__ import annotations

import pytest

from retrieval.engine import Engine
from retrieval.evaluation.metrics import f1_score

# (question, acceptable answers); a reply counts as right at F1 >= 0.5 against one of them.
OWN_QUESTIONS = [
    ("Who is the Chinese official leading the trade negotiations?", ["He Lifeng"]),
    ("In which country are the treasury officials meeting?", ["Switzerland"]),
    ("Which think tank does Yun Sun work for?", ["the Stimson Center"]),
    ("What is Scott Bessent's job?", ["Secretary of Treasury"]),
    ("Who will China's lead trade negotiator sit down with?",
     ["Scott Bessent", "Secretary of Treasury Scott Bessent"]),
    ("According to Yun Sun, what message is China sending to the U.S.?",
     ["play fair in these discussions", "play fair"]),
    ("Which administration has China said it is ready to hold trade talks with?",
     ["the Trump administration"]),
    ("What does China warn the talks must not be used for?",
     ["a guise for further coercion", "further coercion", "continued intimidation",
      "a pretext for continued intimidation"]),
    ("Which groups have been calling for an end to the trade turmoil?",
     ["American industry and consumer groups", "various sectors"]),
    ("What did Beijing do to its stance after weeks of refusing to talk?",
     ["softened its stance", "softened"]),
]

OFF_TOPIC = [
    "How long should I bake a sourdough loaf?",
    "What is the boiling point of water on Mars?",
    "Who won the 1998 football World Cup?",
    "How do I reverse a linked list in Python?",
]


def test_own_questions_about_the_one_article_are_answered_from_it(engine: Engine) -> None:
    right, replies = 0, []
    for question, golds in OWN_QUESTIONS:
        answer = engine.ask(question)
        replies.append((question, answer.text, answer.abstained))
        if not answer.abstained and f1_score(answer.text, golds) >= 0.5:
            right += 1
            assert answer.citations and answer.citations[0].title.startswith("China and U.S.")
    answered = sum(not abstained for _, _, abstained in replies)
    assert answered >= 9, replies  # the gate lets the article's own questions through
    # Measured with the packaged reader reading the found passages widened by their
    # paragraphs (reader.context_chars) and ranking its spans with the passage prior: 7 of 10
    # right, as read alone with the check (the 270M model alone: 3; the target is 8). This
    # pins 6, one close call below, so that a regression shows.
    assert right >= 6, replies


def test_off_topic_questions_are_refused_on_a_one_article_collection(engine: Engine) -> None:
    for question in OFF_TOPIC:
        answer = engine.ask(question)
        assert answer.abstained, (question, answer.text)
        assert answer.citations == []


@pytest.mark.parametrize(("question", "gold"), [
    ("Where will the talks take place?", "Switzerland"),  # make demo's default question
    ("Which administration is China ready to hold trade talks with?",  # README's second
     "Trump administration"),
])
def test_the_readme_demo_questions_are_answered_with_their_sentence(
        engine: Engine, question: str, gold: str) -> None:
    answer = engine.ask(question)
    assert not answer.abstained and gold in answer.text
    # the answer is copied from the article and the citation quotes its sentence
    assert answer.citations and answer.text.lower() in answer.citations[0].quote.lower()


def test_a_where_question_about_the_article_is_answered_not_refused(engine: Engine) -> None:
    answer = engine.ask("Where will the talks take place?")
    assert not answer.abstained  # the old collection-IDF gate refused it
    assert answer.citations and answer.text.lower() in answer.citations[0].quote.lower()
