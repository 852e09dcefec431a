"""One loss-and-backward step, plain or cached (GradCache, Gao et al. 2021).

The cached form makes the effective batch independent of memory: it embeds the batch in
mini-batches without a graph, computes the loss and its gradient with respect to the
embeddings on the whole batch, then re-embeds each mini-batch with a graph and pushes that
gradient through it. Dropout masks are replayed (the RNG state of each mini-batch is saved on
the first pass and restored on the second), so the result is the gradient of the full-batch
loss, not an approximation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from finesim.models.encoder import Encoder

LossFn = Callable[[dict[str, torch.Tensor], torch.Tensor | None], torch.Tensor]


def embed(
    encoder: Encoder, texts: Sequence[str], max_length: int | None, bucket: int = 16
) -> torch.Tensor:
    """Sentence vectors with a graph (dropout follows ``encoder.train()``), in input order.

    The texts run through the model in groups of ``bucket`` of similar token length: padding
    every sentence of a batch to its longest wastes much of a CPU's time on short sentences.
    The order is fixed by the texts, so a GradCache replay draws the same dropout masks.
    """
    features, _ = encoder.tokenize(texts, max_length)
    if "attention_mask" not in features:  # a static table: one flat bag of ids, no padding
        return encoder(features)
    lengths = features["attention_mask"].sum(dim=1)
    order = torch.argsort(lengths, stable=True)
    parts = []
    for rows in order.split(bucket):
        width = int(lengths[rows].max())
        parts.append(encoder({k: v[rows, :width] for k, v in features.items()}))
    return torch.cat(parts)[torch.argsort(order)]


def backward(
    encoder: Encoder,
    loss_fn: LossFn,
    texts: Mapping[str, Sequence[str]],
    labels: torch.Tensor | None,
    max_length: int | None = None,
) -> float:
    """Embed every column with a graph, compute the loss, backpropagate; return the loss."""
    embeddings = {column: embed(encoder, t, max_length) for column, t in texts.items()}
    loss = loss_fn(embeddings, labels)
    loss.backward()
    return float(loss.detach())


def _rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[torch.Tensor, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def cached_backward(
    encoder: Encoder,
    loss_fn: LossFn,
    texts: Mapping[str, Sequence[str]],
    labels: torch.Tensor | None,
    mini_batch: int,
    max_length: int | None = None,
) -> float:
    """Same gradients as ``backward`` with at most ``mini_batch`` texts in a graph at once."""
    device = encoder.device
    chunks: dict[str, list[tuple[Sequence[str], tuple[torch.Tensor, torch.Tensor | None]]]] = {}
    reps: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for column, column_texts in texts.items():
            parts, chunks[column] = [], []
            for start in range(0, len(column_texts), mini_batch):
                piece = column_texts[start : start + mini_batch]
                state = _rng_state(device)
                parts.append(embed(encoder, piece, max_length))
                chunks[column].append((piece, state))
            reps[column] = torch.cat(parts).requires_grad_(True)
    loss = loss_fn(reps, labels)
    loss.backward()  # gradients w.r.t. the embeddings (and the loss's own parameters)
    after = _rng_state(device)
    for column, pieces in chunks.items():
        grad = reps[column].grad
        if grad is None:
            continue
        start = 0
        for piece, state in pieces:
            _set_rng_state(state, device)
            vectors = embed(encoder, piece, max_length)
            vectors.backward(grad[start : start + len(piece)])
            start += len(piece)
    _set_rng_state(after, device)
    return float(loss.detach())
