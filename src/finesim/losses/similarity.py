"""Pieces every loss shares: similarity matrices and a cross-process gather that keeps grads."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All-pairs cosine similarity, (len(a), len(b))."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` from every process in rank order, keeping gradients.

    Under DDP each process then sees every process's embeddings as in-batch negatives, and
    the backward pass sends each process the gradient of its own rows. Without a process
    group it returns ``t`` unchanged.
    """
    if not distributed():
        return t
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(t.contiguous()), dim=0)


def rank_offset(local_rows: int) -> int:
    """Index of this process's first row in a gathered tensor."""
    return dist.get_rank() * local_rows if distributed() else 0
