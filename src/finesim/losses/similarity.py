"""Pieces every loss shares: similarity matrices and a cross-process gather that keeps grads."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All-pairs cosine similarity, (len(a), len(b))."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _Gather(torch.autograd.Function):
    """all_gather whose backward hands each process the summed gradient of its own rows."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, t.contiguous())
        ctx.rows = len(t)
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)  # every process's loss depends on these rows
        start = dist.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` from every process in rank order, keeping gradients.

    Under DDP each process then sees every process's embeddings as in-batch negatives, and
    the backward pass sends each process the gradient of its own rows. Without a process
    group it returns ``t`` unchanged. Rows per process must be equal.
    """
    if not distributed():
        return t
    out: torch.Tensor = _Gather.apply(t)
    return out


def rank_offset(local_rows: int) -> int:
    """Index of this process's first row in a gathered tensor."""
    return dist.get_rank() * local_rows if distributed() else 0
