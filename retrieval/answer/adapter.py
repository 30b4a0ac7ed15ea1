"""A low-rank adapter on the reader's top encoder layer: a few hundred kilobytes that change
how the reader scores spans without replacing its shipped weights.

Each linear map ``W`` of the layer gains ``scale · B A`` (rank ``r``); at load the product is
merged into ``W``, so reading costs nothing more. The span head is trained whole (769 weights
a row) and replaces the reader's. Only the top layer changes: the answerability check shares
the reader's embeddings and lower layers, which stay as they were.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

# The linear maps of a BERT layer (relative to the layer module).
LINEAR_MAPS = ("attention.self.query", "attention.self.key", "attention.self.value",
               "attention.output.dense", "intermediate.dense", "output.dense")
HEAD = "qa_outputs"


class LowRank(nn.Module):
    """``base(x) + scale · x Aᵀ Bᵀ``; B starts at zero, so training starts from the reader."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a.T @ self.b.T) * self.scale

    def delta(self) -> torch.Tensor:
        return (self.b @ self.a) * self.scale


def top_layer_index(model: Any) -> int:
    return len(model.bert.encoder.layer) - 1


def _parent(module: nn.Module, dotted: str) -> tuple[nn.Module, str]:
    *path, last = dotted.split(".")
    for name in path:
        module = getattr(module, name)
    return module, last


def add_adapter(model: Any, rank: int, alpha: float) -> dict[str, LowRank]:
    """Freezes ``model`` and puts trainable low-rank maps on its top layer; the span head
    trains whole. Returns the maps by their path in the layer."""
    for p in model.parameters():
        p.requires_grad = False
    layer = model.bert.encoder.layer[top_layer_index(model)]
    maps: dict[str, LowRank] = {}
    for dotted in LINEAR_MAPS:
        parent, name = _parent(layer, dotted)
        maps[dotted] = LowRank(getattr(parent, name), rank, alpha)
        setattr(parent, name, maps[dotted])
    for p in getattr(model, HEAD).parameters():
        p.requires_grad = True
    return maps


def adapter_tensors(model: Any, maps: Mapping[str, LowRank]) -> dict[str, torch.Tensor]:
    """What ships: each map's A and B, and the span head."""
    top = top_layer_index(model)
    tensors: dict[str, torch.Tensor] = {}
    for dotted, low in maps.items():
        tensors[f"bert.encoder.layer.{top}.{dotted}.lora_a"] = low.a.detach().clone()
        tensors[f"bert.encoder.layer.{top}.{dotted}.lora_b"] = low.b.detach().clone()
    for key, value in getattr(model, HEAD).state_dict().items():
        tensors[f"{HEAD}.{key}"] = value.detach().clone()
    return tensors


def merge_adapter(model: Any, tensors: Mapping[str, torch.Tensor], scale: float,
                  maps: Sequence[str] = LINEAR_MAPS) -> None:
    """Adds ``scale · B A`` to each adapted weight and loads the head (in place). Raises
    KeyError or ValueError when the tensors do not fit the model."""
    state = model.state_dict()
    top = top_layer_index(model)
    pairs = [f"bert.encoder.layer.{top}.{dotted}" for dotted in maps]
    expected = {f"{p}.lora_{x}" for p in pairs for x in "ab"} | {f"{HEAD}.weight", f"{HEAD}.bias"}
    if set(tensors) != expected:
        raise ValueError(f"not an adapter of this reader's top layer ({len(tensors)} tensors, "
                         f"{len(set(tensors) & expected)} of the {len(expected)} expected)")
    added: list[tuple[torch.Tensor, torch.Tensor]] = []  # all checked first, then applied
    for prefix in pairs:
        weight = state[f"{prefix}.weight"]
        a, b = tensors[f"{prefix}.lora_a"].float(), tensors[f"{prefix}.lora_b"].float()
        if a.ndim != 2 or b.ndim != 2 or (b.shape[0], a.shape[1]) != tuple(weight.shape) \
                or b.shape[1] != a.shape[0]:
            raise ValueError(f"{prefix}: an adapter of {tuple(b.shape)} × {tuple(a.shape)} "
                             f"for a weight of {tuple(weight.shape)}")
        added.append((weight, (b @ a) * scale))
    head = [(state[f"{HEAD}.{key}"], tensors[f"{HEAD}.{key}"].float())
            for key in ("weight", "bias")]
    for target, source in head:
        if source.shape != target.shape:
            raise ValueError(f"{HEAD}: shape {tuple(source.shape)}")
    with torch.no_grad():
        for target, delta in added:
            target.add_(delta)
        for target, source in head:
            target.copy_(source)
