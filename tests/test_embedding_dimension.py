"""The embedding size comes from the model, not from a constant."""

from __future__ import annotations

import json
from pathlib import Path

from retrieval.models.embedder import Embedder, configured_dimension


def write_model(folder: Path, modules: list[tuple[str, dict[str, object]]]) -> Path:
    folder.mkdir()
    (folder / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), "path": path, "type": "x"}
         for i, (path, _) in enumerate(modules)]))
    for path, config in modules:
        (folder / path).mkdir(exist_ok=True)
        (folder / path / "config.json").write_text(json.dumps(config))
    return folder


def test_the_packaged_model_reports_its_size_without_loading() -> None:
    embedder = Embedder("packaged")
    assert embedder.dimension == 384
    assert embedder._model is None  # opening a collection must not load the model
    assert embedder.embed(["a sentence"]).shape == (1, embedder.dimension)


def test_a_dense_layer_or_concatenated_pooling_sets_the_size(tmp_path: Path) -> None:
    dense = write_model(tmp_path / "dense", [
        ("", {"hidden_size": 768}),
        ("1_Pooling", {"word_embedding_dimension": 768, "pooling_mode_mean_tokens": True}),
        ("2_Dense", {"in_features": 768, "out_features": 256}),
    ])
    assert configured_dimension(dense) == 256
    assert Embedder(str(dense)).dimension == 256
    pooled = write_model(tmp_path / "pooled", [
        ("", {"hidden_size": 512}),
        ("1_Pooling", {"word_embedding_dimension": 512, "pooling_mode_mean_tokens": True,
                       "pooling_mode_max_tokens": True, "pooling_mode_cls_token": False}),
    ])
    assert configured_dimension(pooled) == 1024
    newer = write_model(tmp_path / "newer", [
        ("", {"hidden_size": 384}),
        ("1_Pooling", {"embedding_dimension": 384, "pooling_mode": "mean"}),
    ])
    assert configured_dimension(newer) == 384


def test_an_unusual_folder_leaves_the_size_to_the_loaded_model(tmp_path: Path) -> None:
    assert configured_dimension(tmp_path) is None
