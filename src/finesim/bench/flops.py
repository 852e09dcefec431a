"""The model's FLOPs per text, and the fp32 limit: texts/s if every FLOP ran at GEMM peak."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn


def token_weights(transformer: nn.Module) -> int:
    """Weights applied to every token: the Linear layers of the transformer, pooler left out."""
    return sum(
        m.weight.numel()
        for name, m in transformer.named_modules()
        if isinstance(m, nn.Linear) and "pooler" not in name
    )


def flops_per_text(tokens: int, weights: int, layers: int, hidden: int) -> float:
    """2 x tokens x weights (the GEMMs) + 4 x layers x tokens^2 x hidden (scores and mixing)."""
    return 2.0 * tokens * weights + 4.0 * layers * tokens * tokens * hidden


def limit_per_s(token_counts: Sequence[int], transformer: nn.Module, gflops: float) -> float:
    """Texts per second at ``gflops`` for texts of these token counts (no padding counted)."""
    config: Any = transformer.config
    weights = token_weights(transformer)
    layers, hidden = int(config.num_hidden_layers), int(config.hidden_size)
    total = sum(flops_per_text(t, weights, layers, hidden) for t in token_counts)
    return len(token_counts) / (total / (gflops * 1e9))
