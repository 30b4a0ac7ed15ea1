"""Summaries on fixed texts, with a scripted model: the faithfulness check, the bullet rules,
sentence selection, the cache key and the summary scores of ``eval --summaries``."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np
import pytest
from fakes import QueuedLLM

from config import load_settings
from retrieval.evaluation.datasets import EvalArticle
from retrieval.evaluation.summary_eval import score, summary_lines
from retrieval.llm import PromptStyle
from retrieval.summary import faithfulness as fa
from retrieval.summary.selection import Selection, article_sentences, select
from retrieval.summary.shortening import Shortening, shorten, trim
from retrieval.summary.summarizer import cache_key, decode, encode, summarize_article

TITLE = "Council approves harbour bridge rebuild"
PARAGRAPHS = [
    "Council approves harbour bridge rebuild",  # the headline repeated in the body
    "The city council of Riverton voted 7-2 on Tuesday to approve a $4.5m plan to rebuild "
    "the old harbour bridge, which has been closed to lorries since last spring.",
    "Mayor Jane Holt said the work would start in June and take about 18 months. "
    "The city council of Riverton voted 7-2 on Tuesday to approve a $4.5m plan to rebuild "
    "the old harbour bridge, which has been closed to lorries since last spring.",
    "Local shop owners have complained for months that the closure sends delivery lorries on "
    "a 40-minute detour through the town centre.",
    "The regional transport agency will pay for a third of the cost, with the rest coming "
    "from a bond approved by voters in 2019.",
    "Critics on the council argued that a new crossing further east would be cheaper to "
    "maintain over the coming decades.",
    "Why did it take so long?",
    "Engineers from the firm Castell & Rowe found cracks in two of the bridge's steel piers "
    "during an inspection last year, prompting the closure to heavy traffic.",
]
ARTICLE = "\n\n".join(PARAGRAPHS)


def hashed_embed(texts: Sequence[str]) -> np.ndarray:
    """A deterministic bag-of-words embedder: similar words, similar vectors."""
    vectors = np.zeros((len(texts), 256), dtype=np.float32)
    for row, text in enumerate(texts):
        for stem in fa.content_stems(text):
            vectors[row, zlib.crc32(stem.encode()) % 256] += 1.0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-9)


def scripted(replies: dict[str, str], style: PromptStyle = "completion") -> QueuedLLM:
    """Answers each shortening request from ``replies`` (by a word of the sentence asked
    about: the text after the prompt's last "Sentence:")."""

    def reply(prompt: str) -> str:
        sentence = prompt.rsplit("Sentence:", 1)[-1]
        return " " + next((r for key, r in replies.items() if key in sentence), "")

    return QueuedLLM(style=style, default=reply)


RULES = Shortening(min_words=18, max_words=40, min_content_share=0.8, max_tokens=160)
LEAD = PARAGRAPHS[1]


# -- the faithfulness check ------------------------------------------------------------------
def test_a_summary_line_with_an_invented_name_or_number_fails_the_check() -> None:
    assert fa.unsupported("Mayor Colin Salmon said the work would start in June.", ARTICLE) \
        == ["colin", "salmon"]
    assert fa.unsupported("The bridge will reopen in 1981.", ARTICLE) == ["1981"]
    assert not fa.is_supported("Mayor Colin Salmon backed the plan.", ARTICLE, 0.0)


def test_a_faithful_line_passes_the_check() -> None:
    line = "Riverton's council approved a $4.5m plan to rebuild the old harbour bridge."
    assert fa.unsupported(line, LEAD) == []
    assert fa.content_support(line, LEAD) == 1.0
    assert fa.is_supported(line, LEAD, 0.8)
    # "U.S." and "US", "talks" and "talk": spelling variants are the same words.
    assert fa.is_supported("US talks resumed.", "Talk between U.S. officials resumed.", 0.5)


def test_a_line_that_drifts_from_its_sentence_fails_on_content_words() -> None:
    drift = "Riverton council warns of a food crisis for farmers."
    assert fa.content_support(drift, LEAD) < 0.8
    assert not fa.is_supported(drift, LEAD, 0.8)


def test_title_echoes_and_duplicates_are_told_apart_from_new_facts() -> None:
    assert fa.echoes_title("Council approved the harbour bridge rebuild.", TITLE)
    assert fa.echoes_title("Tories outlining policing plans", "Tories outline policing plans")
    assert not fa.echoes_title(LEAD, TITLE)  # the headline's words plus the facts
    assert fa.duplicates(["Actor Scott is new Bond favourite", "Actor Scott is new Bond "
                          "favourite.", "Engineers found cracks in two steel piers."]) == [(0, 1)]


# -- shortening ----------------------------------------------------------------------------
@pytest.mark.parametrize("style", ["completion", "chat"])
def test_a_faithful_shortening_is_kept_and_an_invented_one_is_replaced_by_the_sentence(
    style: PromptStyle,
) -> None:
    good = scripted({"Riverton": "Riverton's council approved a $4.5m plan to rebuild the "
                                    "old harbour bridge."}, style)
    text, compressed = shorten(good, LEAD, TITLE, RULES)
    assert compressed and text.startswith("Riverton's council approved a $4.5m plan")
    bad = scripted({"Riverton": "Mayor Colin Salmon approved a $9m bridge plan."}, style)
    text, compressed = shorten(bad, LEAD, TITLE, RULES)
    assert not compressed and text == LEAD


def test_a_shortening_that_only_repeats_the_title_is_not_kept() -> None:
    llm = scripted({"Riverton": "Council approves harbour bridge rebuild."})
    assert shorten(llm, LEAD, TITLE, RULES) == (LEAD, False)


def test_a_trimmed_sentence_loses_its_connective_and_is_cut_after_a_clause() -> None:
    assert trim("However, the mayor said the work would start in June.", 40) == \
        "The mayor said the work would start in June."
    long = ("The council said the bridge, which opened in 1921, would be rebuilt, and that "
            "lorries would use the ring road while the work went on for eighteen months")
    cut = trim(long, 14)
    assert cut.endswith("…") and len(cut.split()) <= 15
    assert long.startswith(cut.removesuffix(" …"))


# -- sentence selection --------------------------------------------------------------------
@pytest.mark.parametrize("method", ["centrality", "lexrank", "lead"])
def test_selection_picks_distinct_sentences_in_article_order_without_title_or_questions(
    method: str,
) -> None:
    sentences = article_sentences(PARAGRAPHS, max_sentences=300)
    picked = select(sentences, TITLE, 4, Selection(method, 0.3, 0.5), hashed_embed)
    assert len(picked) == 4
    assert [s.index for s in picked] == sorted(s.index for s in picked)
    assert picked[0].text == LEAD  # the lead, and only once
    texts = [s.text for s in picked]
    assert fa.duplicates(texts) == []
    assert not any(fa.echoes_title(t, TITLE) or t.endswith("?") for t in texts)


def test_a_very_long_article_is_cut_to_the_sentence_cap_keeping_its_opening() -> None:
    paragraphs = [f"Sentence number {i} of the report says something." for i in range(5000)]
    sentences = article_sentences(paragraphs, max_sentences=200)
    assert len(sentences) == 200
    assert sentences[0].paragraph == 0 and sentences[-1].paragraph > 4000


# -- whole summaries -----------------------------------------------------------------------
def _settings(**overrides: object):  # type: ignore[no-untyped-def]
    return load_settings(None, {"preload_sample": False, **overrides})


def test_a_long_summary_follows_the_bullet_rules_and_streams_its_points() -> None:
    llm = scripted({"Riverton": "Riverton's council approved a $4.5m plan to rebuild the "
                                   "old harbour bridge.",
                       "Engineers": "Engineers from the firm Castell & Rowe found cracks."})
    streamed: list[str] = []
    settings = _settings(**{"summary.compress": "on", "summary.compress_min_words": 18})
    points = summarize_article(llm, hashed_embed, settings, TITLE, PARAGRAPHS, "long",
                               streamed.append)
    assert 3 <= len(points) <= 6
    assert [p.paragraph for p in points] == sorted(p.paragraph for p in points)
    lines = [p.text for p in points]
    assert fa.duplicates(lines) == []
    assert not any(fa.echoes_title(line, TITLE) for line in lines)
    assert all(fa.unsupported(line, PARAGRAPHS[p.paragraph]) == [] for line, p in
               zip(lines, points, strict=True))
    assert points[0].compressed and points[0].paragraph == 1
    rendered = "".join(streamed)
    assert re.fullmatch(r"(- .+ \(paragraph \d+\)\n?)+", rendered)
    assert len(llm.prompts) <= 6  # one model call per point at most


def test_a_base_model_is_not_asked_to_shorten_unless_compress_is_on() -> None:
    replies = {"Riverton": "Riverton's council approved a $4.5m plan to rebuild the old "
                           "harbour bridge."}
    llm = scripted(replies)
    points = summarize_article(llm, hashed_embed, _settings(), TITLE, PARAGRAPHS, "long", None)
    assert llm.prompts == [] and not any(p.compressed for p in points)
    chat = scripted(replies, "chat")
    points = summarize_article(chat, hashed_embed, _settings(), TITLE, PARAGRAPHS, "long", None)
    assert chat.prompts and points[0].compressed


def test_a_short_summary_is_one_or_two_sentences() -> None:
    llm = scripted({})
    points = summarize_article(llm, hashed_embed, _settings(), TITLE, PARAGRAPHS, "short", None)
    assert 1 <= len(points) <= 2
    assert points[0].text == LEAD


def test_the_cache_key_changes_with_the_summary_settings_and_old_rows_are_not_read() -> None:
    base = cache_key(_settings(), "model.gguf")
    assert base.startswith("model.gguf#")
    assert cache_key(_settings(**{"summary.method": "centrality"}), "model.gguf") != base
    assert cache_key(_settings(**{"summary.max_points": 5}), "model.gguf") != base
    assert decode("- an old summary line") is None
    points = summarize_article(scripted({}), hashed_embed, _settings(), TITLE, PARAGRAPHS,
                               "long", None)
    assert decode(encode(points)) == points


def test_bad_point_settings_are_one_clear_error() -> None:
    from config.settings import ConfigError

    with pytest.raises(ConfigError, match="max_points"):
        _settings(**{"summary.min_points": 5, "summary.max_points": 3})


# -- eval --summaries scores ---------------------------------------------------------------
def test_summary_scores_flag_invented_names_title_echoes_and_duplicate_bullets() -> None:
    article = EvalArticle("x/1", TITLE, ARTICLE)
    bad = ("- Council approves harbour bridge rebuild\n- Council approves harbour bridge rebuild."
           "\n- Actor Colin Salmon backed it in 1981. (paragraph 3)")
    scored = score(bad, article, long=True)
    assert scored.invented == ["1981", "actor", "colin", "salmon"]
    assert scored.title_echo and scored.duplicates == 1 and scored.lines == 3
    good = ("- The city council of Riverton voted 7-2 to rebuild the harbour bridge. "
            "(paragraph 2)\n- Mayor Jane Holt said the work would start in June. (paragraph 3)")
    scored = score(good, article, long=True)
    assert scored.invented == [] and not scored.title_echo and scored.duplicates == 0
    assert scored.coverage == 1.0  # Riverton (the only name in paragraphs 1-2)
    assert summary_lines(good)[0].endswith("harbour bridge.")
