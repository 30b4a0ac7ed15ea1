"""The reader's calibration: one softmax over every passage a question is read against, a
low-rank adapter merged into the reader's top layer, and its file checked like the reader's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from test_reader_training import train_toy_reader
from torch import nn

from bot.cli import cli
from retrieval.answer.adapter import LowRank, merge_adapter
from retrieval.answer.calibration_training import Group, build_groups, shared_norm_loss, targets
from retrieval.answer.trained_weights import (
    CALIBRATION_WEIGHTS,
    load_model,
    load_span_reader,
    read_files,
)
from retrieval.errors import ModelError

ARTICLES = {"A": "\n\n".join([
    "The bridge opened in 1932 after six years of work by the city's engineers.",
    "The bridge was painted red in 1950 and the city built a museum beside it.",
    "Tickets to the museum cost five dollars for adults."])}
QUESTIONS = [
    {"qid": "1", "doc_id": "A", "question": "When did the bridge open?", "answers": ["1932"],
     "answerable": True, "paragraph": 0},
    {"qid": "2", "doc_id": "A", "question": "Who designed the museum?", "answers": [],
     "answerable": False, "paragraph": 1},
    {"qid": "3", "doc_id": "B", "question": "Not ours?", "answers": [], "answerable": False,
     "paragraph": 0},
]


def test_a_question_is_read_with_its_own_paragraph_first_and_alike_ones_without_its_answer(
        ) -> None:
    groups = {g.question: g for g in build_groups(ARTICLES, QUESTIONS, {"A"}, 2, seed=0)}
    assert set(groups) == {"When did the bridge open?", "Who designed the museum?"}
    opened = groups["When did the bridge open?"]
    assert opened.passages[0] == ARTICLES["A"].split("\n\n")[0]
    assert opened.answer is not None
    assert opened.passages[0][opened.answer[0]:opened.answer[1]] == "1932"
    assert len(opened.passages) == 3 and all("1932" not in p for p in opened.passages[1:])
    # The most alike other paragraph (it shares "bridge") comes before the unrelated one.
    assert "painted red" in opened.passages[1]
    assert groups["Who designed the museum?"].answer is None


def test_one_softmax_spans_every_window_of_a_question() -> None:
    scored = [(0, [0, 1, 2]), (1, [0, 1, 2])]
    start = torch.tensor([[0.0, 0.0, 8.0], [0.0, 2.0, 0.0]])  # a strong rival in window 0
    end = start.clone()
    rival = shared_norm_loss(start, end, scored, [(1, 1)], [(1, 1)])
    calm = start.clone()
    calm[0, 2] = 0.0
    alone = shared_norm_loss(calm, calm.clone(), scored, [(1, 1)], [(1, 1)])
    # Per window, the target would win its own softmax either way; shared, the rival in the
    # other passage costs it.
    assert rival.item() > 5.0 > alone.item()
    # "No answer": the targets are every window's first position, taken together.
    both = shared_norm_loss(calm, calm.clone(), scored, [(0, 0), (1, 0)], [(0, 0), (1, 0)])
    one = shared_norm_loss(calm, calm.clone(), scored, [(0, 0)], [(0, 0)])
    assert both.item() < one.item()


def test_positions_outside_the_scored_ones_never_count() -> None:
    start = torch.tensor([[0.0, 1.0, 50.0]])  # token 2 is the question, not the passage
    loss = shared_norm_loss(start, start.clone(), [(0, [0, 1])], [(0, 1)], [(0, 1)])
    expected = -torch.log_softmax(torch.tensor([0.0, 1.0]), 0)[1]
    assert torch.isclose(loss, expected)


def test_a_merged_adapter_reads_exactly_as_the_trained_one() -> None:
    torch.manual_seed(0)
    model = _TinyReader()
    low = LowRank(model.bert.encoder.layer[0].attention.self.query, rank=2, alpha=4.0)
    with torch.no_grad():
        low.b.normal_()
    x = torch.randn(3, 4)
    adapted = low(x)
    tensors = {"bert.encoder.layer.0.attention.self.query.lora_a": low.a.detach(),
               "bert.encoder.layer.0.attention.self.query.lora_b": low.b.detach(),
               "qa_outputs.weight": torch.ones(2, 4), "qa_outputs.bias": torch.zeros(2)}
    merge_adapter(model, tensors, low.scale, maps=["attention.self.query"])
    assert torch.allclose(model.bert.encoder.layer[0].attention.self.query(x), adapted,
                          atol=1e-5)
    assert torch.equal(model.qa_outputs.weight, torch.ones(2, 4))


def test_an_adapter_that_does_not_fit_is_refused_whole() -> None:
    model = _TinyReader()
    query = "bert.encoder.layer.0.attention.self.query"
    good = {f"{query}.lora_a": torch.ones(2, 4), f"{query}.lora_b": torch.ones(4, 2),
            "qa_outputs.weight": torch.ones(2, 4), "qa_outputs.bias": torch.zeros(2)}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    misfits = [
        {**good, f"{query}.lora_a": torch.zeros(2, 5)},  # the map's shape
        {**good, "qa_outputs.weight": torch.ones(3, 4)},  # the head's, after a good map
        {k: v for k, v in good.items() if k != f"{query}.lora_b"},  # a half map
    ]
    for tensors in misfits:
        with pytest.raises(ValueError):
            merge_adapter(model, tensors, 1.0, maps=["attention.self.query"])
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.models
def test_targets_mark_the_answer_in_its_own_windows_and_no_answer_everywhere() -> None:
    from transformers import AutoTokenizer

    from retrieval.answer.reader import Windowing, encode
    from retrieval.models.embedder import resolve_embedding_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_embedding_model("packaged"))
    long_own = " ".join(["The old bridge carried trams for decades."] * 6 +
                        ["The bridge opened in 1932 after years of work."])
    groups = [Group("When did the bridge open?", (long_own, "A museum stands nearby."),
                    (long_own.index("1932"), long_own.index("1932") + 4)),
              Group("Who designed the museum?", ("A museum stands nearby.", long_own), None)]
    owners = [(g, k) for g, group in enumerate(groups) for k in range(len(group.passages))]
    windowing = Windowing(max_length=48, stride=16)  # the long paragraph takes several
    features = encode(tokenizer, [g.question for g in groups for _ in g.passages],
                      [p for g in groups for p in g.passages], windowing)
    answered, unanswerable = targets(features, owners, groups)
    windows, starts, ends, scored = answered
    assert len(windows) > 2 and starts and len(starts) == len(ends)
    for (row, first), (_, last) in zip(starts, ends):
        w = windows[row]
        offsets = features["offset_mapping"][w]
        assert long_own[offsets[first][0]:offsets[last][1]] == "1932"
        assert owners[features["overflow_to_sample_mapping"][w]] == (0, 0)  # its own passage
    assert all(tokens[0] == 0 and 0 not in tokens[1:] for _, tokens in scored)
    windows, starts, ends, _ = unanswerable
    assert starts == ends == [(row, 0) for row in range(len(windows))]


@pytest.mark.models
def test_a_few_steps_calibrate_a_reader_that_loads_merged_and_checked(tmp_path: Path) -> None:
    from retrieval.models.embedder import resolve_embedding_model

    squad, export, split = train_toy_reader(tmp_path)
    wrong_split = CliRunner().invoke(cli, ["calibrate-reader", "--squad", str(squad),
                                           "--reader", str(export), "--out",
                                           str(tmp_path / "c0")])
    assert wrong_split.exit_code == 1 and "article split" in wrong_split.output
    args = ["calibrate-reader", "--squad", str(squad), "--reader", str(export), "--out",
            str(tmp_path / "cal"), "--epochs", "1", "--learning-rate", "0.05", *split]
    calibrated = CliRunner().invoke(cli, [*args, "--export", str(export)])
    assert calibrated.exit_code == 0, calibrated.output
    assert "Exported" in calibrated.output
    run = json.loads((tmp_path / "cal" / "run.json").read_text())
    trained = torch.load(tmp_path / "cal" / "trained.pt")
    again = CliRunner().invoke(cli, args)  # resumes at its last step: nothing left to do
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "cal" / "run.json").read_text())["steps_done"] == \
        run["steps_done"] >= 1
    resumed = torch.load(tmp_path / "cal" / "trained.pt")
    assert trained.keys() == resumed.keys()
    assert all(torch.equal(trained[k], resumed[k]) for k in trained)
    section = read_files(export).manifest["calibration"]
    assert section["data"]["licence"].startswith("SQuAD") and section["scale"] == 2.0
    assert section["bytes"] < 200_000  # rank 8 on one layer, and the head, float16

    files, base = read_files(export), resolve_embedding_model("packaged")
    plain, _ = load_model(files, base, calibrated=False)
    merged, _ = load_model(files, base)
    top = "bert.encoder.layer.5.intermediate.dense.weight"
    assert not torch.equal(plain.state_dict()[top], merged.state_dict()[top])
    low = "bert.encoder.layer.4.intermediate.dense.weight"  # the check's shared layers stay
    assert torch.equal(plain.state_dict()[low], merged.state_dict()[low])
    reading = load_span_reader(str(export), 30).read("Who leads the parade?", [
        "The festival opens on Friday with a parade led by mayor Ann Cole."])
    assert reading.spans

    manifest_path = export / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["calibration"]["reader_sha256"] = "0" * 64  # a calibration of another reader
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="trained for another reader"):
        load_span_reader(str(export), 30)

    (export / CALIBRATION_WEIGHTS).write_bytes(b"not the adapter")
    with pytest.raises(ModelError, match=r"reader\.calibration = false"):
        read_files(export)
    assert load_span_reader(str(export), 30, calibrated=False).read(  # as the message says
        "Who leads the parade?", ["A parade led by mayor Ann Cole."]).spans


def _module(**children: nn.Module) -> nn.Module:
    module = nn.Module()
    for name, child in children.items():
        module.add_module(name, child)
    return module


class _TinyReader(nn.Module):
    """The attribute layout of BertForQuestionAnswering, four wide, one layer."""

    def __init__(self) -> None:
        super().__init__()
        attention = _module(self=_module(query=nn.Linear(4, 4)))
        layer = _module(attention=attention)
        self.bert = _module(encoder=_module(layer=nn.ModuleList([layer])))
        self.qa_outputs = nn.Linear(4, 2)
