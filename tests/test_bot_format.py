"""Article text cannot restyle the bot's messages: masked links and Markdown are shown as
typed, in /search passages, answers and summaries."""

from __future__ import annotations

from bot.discordbot import format as fmt
from retrieval.types import Answer, ArticleInfo, Citation, Passage, Summary

PLANTED = "Read [the official notice](https://evil.example/login) now.\n# BIG\n> quoted ||spoiler||"


def _unrendered(text: str) -> None:
    assert "[the official notice](" not in text
    assert "\\[the official notice\\](https://evil.example/login)" in text
    assert "\n# BIG" not in text and "||spoiler||" not in text


def test_search_passages_show_masked_links_and_markdown_as_typed() -> None:
    passage = Passage(1, 2, "Notice", 0, 0, 10, PLANTED, 0.5)
    text = fmt.search_text("notice", [passage])
    _unrendered(text)
    assert text.count("\n> ") == 1  # the passage stays one quoted line


def test_answers_escape_masked_links_but_keep_citation_marks_and_emphasis() -> None:
    passages = [Passage(10, 1, "Notice", 0, 0, 5, "x", 0.5)]
    answer = Answer(f"**Yes** [1]. {PLANTED}", False, [Citation(1, "Notice", 0, "x", 0.5)],
                    passages=passages)
    text = fmt.answer_text(answer)
    _unrendered(text)
    assert text.startswith("**Yes** [1]. Read")


def test_summaries_escape_masked_links() -> None:
    info = ArticleInfo(1, "Notice", 1, "2025-05-01T10:00:00+00:00", "x.txt", None, "h")
    _unrendered(fmt.summary_text(Summary(info, PLANTED, "short", False, {})))


def test_members_never_see_the_data_directory_or_the_model_server_address() -> None:
    from bot.discordbot.format import member_sentence
    from retrieval.errors import InputError, ModelError, StorageError

    down = ModelError("The model server at http://10.0.0.5:8080/v1 cannot be reached (refused).")
    assert member_sentence(down) == "The model server cannot be reached (refused)."
    disk = StorageError("Could not open the database at /srv/articlebot/collections/x/s.db: "
                        "unable to open database file.")
    assert member_sentence(disk) == "Could not open the database: unable to open database file."
    model = ModelError("Could not load the model /srv/models/big.gguf: bad magic.")
    assert "/srv" not in member_sentence(model)
    link = InputError("Could not fetch https://example.com/x: it timed out.")
    assert member_sentence(link) == str(link)  # the member's own link
