"""Matryoshka representation learning (Kusupati et al. 2022) around any finesim loss.

Why a wrapper and not a loss of its own: the objective is "the same loss, on the first d
components too". ``MatryoshkaLoss(inner, dims)`` returns sum_k weight_k * inner(e[:, :d_k]),
so the leading components of a vector carry most of its meaning and ``truncate_dim`` at
inference (``Encoder(truncate_dim=)``, ``finesim index build --truncate-dim``) loses little.

Truncation is the first d components, as ``Encoder`` cuts them; nothing is renormalised here:
the cosine-based losses normalise their inputs themselves, so for them this is exactly
sentence-transformers' ``MatryoshkaLoss`` (which renormalises after the cut); a euclidean
triplet loss sees the cut vectors as a truncating encoder of that model would give them.

Losses with learnt state over the vector (``SoftmaxLoss``'s classifier on (u, v, |u - v|),
SimCSE's MLP head in ``InfoNCELoss``, ``CenterLoss``'s classifier and centres) are refused:
that state has one width, so the cut vectors do not fit it (sentence-transformers fails on
them with a shape error at the first step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from finesim._util.errors import FinesimError


def check_dims(
    dims: Any, weights: Any, full_dim: int | None = None
) -> tuple[list[int], list[float]]:
    """``matryoshka_dims`` / ``matryoshka_weights`` checked: positive integers no larger than
    the model's vectors, weights (default 1 each) of the same length; else one-line errors."""
    if weights and not dims:
        raise FinesimError("matryoshka_weights: given without matryoshka_dims")
    if not isinstance(dims, (list, tuple)) or not dims:
        raise FinesimError(f"matryoshka_dims: expected a list of positive integers, got {dims!r}")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise FinesimError(f"matryoshka_dims: {d!r} is not a positive integer")
        if full_dim is not None and d > full_dim:
            raise FinesimError(
                f"matryoshka_dims: {d} is larger than the model's {full_dim}-dimensional vectors"
            )
    if len(set(dims)) != len(dims):
        raise FinesimError(f"matryoshka_dims: {list(dims)} repeats a dimension")
    if weights is None or (isinstance(weights, (list, tuple)) and not weights):
        return list(dims), [1.0] * len(dims)
    if not isinstance(weights, (list, tuple)) or len(weights) != len(dims):
        raise FinesimError(
            f"matryoshka_weights: {weights!r} needs one number for each of matryoshka_dims "
            f"{list(dims)}"
        )
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
            raise FinesimError(f"matryoshka_weights: {w!r} is not a number >= 0")
    return list(dims), [float(w) for w in weights]


def check_inner(inner: nn.Module) -> None:
    """Refuse losses with learnt state over the vectors (see the module docstring): any
    parameter or buffer (a classifier, an MLP head, class centres) has the full width."""
    state = [name for name, _ in inner.named_parameters()]
    state += [name for name, _ in inner.named_buffers()]
    if state:
        raise FinesimError(
            f"matryoshka_dims: loss {type(inner).__name__} learns {state[0].split('.')[0]!r} "
            "over the full vectors, which truncated vectors do not fit; train it without "
            "matryoshka_dims, or use another loss (cosine, cosent, triplet, infonce without head)"
        )


class MatryoshkaLoss(nn.Module):
    """sum_k weights[k] * inner({column: e[:, :dims[k]]}, labels).

    ``inner`` is any finesim loss (``LOSSES``) without a learnt head; ``weights`` default to 1
    for every dimension; ``full_dim`` (the encoder's) lets dimensions beyond it be refused now
    rather than at the first step.
    """

    def __init__(
        self,
        inner: nn.Module,
        dims: Sequence[int],
        weights: Sequence[float] | None = None,
        full_dim: int | None = None,
    ) -> None:
        super().__init__()
        check_inner(inner)
        self.inner = inner
        self.dims, self.weights = check_dims(dims, weights, full_dim)
        self.columns = getattr(inner, "columns", ())

    def forward(
        self, embeddings: dict[str, torch.Tensor], labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        width = min(e.shape[-1] for e in embeddings.values())
        if max(self.dims) > width:
            raise FinesimError(
                f"matryoshka_dims: {max(self.dims)} is larger than the {width}-dimensional vectors"
            )
        total: torch.Tensor | None = None
        for d, w in zip(self.dims, self.weights, strict=True):
            term = w * self.inner({c: e[..., :d] for c, e in embeddings.items()}, labels)
            total = term if total is None else total + term
        assert total is not None  # check_dims refuses an empty list
        return total
