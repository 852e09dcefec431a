"""Pooling: turn token vectors into one sentence vector.

The modes cover Sentence-BERT's (cls, mean, max, weighted mean, mean over sqrt length),
SimCSE's (``cls`` with BERT's pooler, ``cls-before-pooler``, ``mean-first-last``,
``mean-top2``) and sentence-transformers' ``lasttoken`` (decoder embedders, whose last
token has seen the whole text). The names follow SimCSE: ``cls`` is the [CLS] vector passed
through the model's pooler (dense + tanh), ``cls-before-pooler`` is the raw [CLS] vector,
which is what sentence-transformers calls ``cls``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from finesim._util.errors import FinesimError

POOLING_MODES = (
    "cls",
    "cls-before-pooler",
    "mean",
    "max",
    "weighted-mean",
    "mean-sqrt-len",
    "mean-first-last",
    "mean-top2",
    "lasttoken",
)

# finesim mode <-> sentence-transformers ``pooling_mode`` name (legacy bool key in brackets),
# in the order sentence-transformers concatenates modes given as legacy bool keys.
ST_NAMES = {
    "cls-before-pooler": ("cls", "pooling_mode_cls_token"),
    "max": ("max", "pooling_mode_max_tokens"),
    "mean": ("mean", "pooling_mode_mean_tokens"),
    "mean-sqrt-len": ("mean_sqrt_len_tokens", "pooling_mode_mean_sqrt_len_tokens"),
    "weighted-mean": ("weightedmean", "pooling_mode_weightedmean_tokens"),
    "lasttoken": ("lasttoken", "pooling_mode_lasttoken"),
}
ALIASES = {
    "cls_before_pooler": "cls-before-pooler",
    "avg": "mean",
    "weightedmean": "weighted-mean",
    "weighted_mean": "weighted-mean",
    "avg_first_last": "mean-first-last",
    "first-last": "mean-first-last",
    "avg_top2": "mean-top2",
    "top2": "mean-top2",
    "mean_sqrt_len_tokens": "mean-sqrt-len",
    "last-token": "lasttoken",
    "last_token": "lasttoken",
}


def canonical_mode(name: str) -> str:
    """Map a user-given or SimCSE-style pooling name to finesim's name; unknown names raise."""
    mode = ALIASES.get(name, name)
    if mode not in POOLING_MODES:
        raise FinesimError(f"unknown pooling {name!r}; choose one of {', '.join(POOLING_MODES)}")
    return mode


def needs_hidden_states(modes: Sequence[str]) -> bool:
    """Whether the transformer must return every layer (for the first-last and top-2 modes)."""
    return any(m in ("mean-first-last", "mean-top2") for m in modes)


def _masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    summed = (tokens * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1e-9)


def _last_token(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The vector of each row's last real token (right padding: position length - 1).

    A gather at an index computed from the mask, so it traces into ONNX (ReduceSum, Gather)
    with dynamic batch and sequence axes; a row without tokens gives zeros, as in
    sentence-transformers.
    """
    last = (mask.sum(dim=1) - 1).clamp(min=0).long()  # (batch, 1)
    index = last.unsqueeze(-1).expand(-1, 1, tokens.shape[-1])
    return torch.gather(tokens * mask, 1, index).squeeze(1)


def _pooler(pooler_output: torch.Tensor | None, prompt_length: int) -> torch.Tensor:
    if pooler_output is None:
        raise FinesimError("pooling 'cls' needs a model with a pooler; use 'cls-before-pooler'")
    if prompt_length:
        raise FinesimError(
            "pooling 'cls' (through the pooler) cannot leave a prompt out; "
            "use 'cls-before-pooler' or a pooling that includes the prompt"
        )
    return pooler_output


def _first_token(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each row's first pooled token (position 0 where the mask is all zeros)."""
    first = mask.to(torch.int32).argmax(dim=1)
    index = first.view(-1, 1, 1).expand(-1, 1, tokens.shape[-1])
    return torch.gather(tokens, 1, index).squeeze(1)


def pool(
    modes: Sequence[str],
    last_hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    hidden_states: Sequence[torch.Tensor] | None = None,
    pooler_output: torch.Tensor | None = None,
    prompt_length: int = 0,
) -> torch.Tensor:
    """Pool ``last_hidden`` (batch, seq, dim) under ``attention_mask``; several modes concatenate.

    Padding is on the right, so the first token is [CLS] for every row and the last real
    token of a row sits at its length minus one. ``prompt_length`` > 0 leaves the first
    positions (a prompt's tokens, [CLS] included) out of the pooling, not out of attention, as
    sentence-transformers' ``include_prompt: false`` does: ``cls`` then takes the first token
    after the prompt.
    """
    pool_mask = attention_mask
    if prompt_length:  # a clone: the caller's mask is the attention mask
        pool_mask = attention_mask.clone()
        pool_mask[:, :prompt_length] = 0
    mask = pool_mask.unsqueeze(-1).to(last_hidden.dtype)
    out: list[torch.Tensor] = []
    for mode in modes:
        if mode == "cls":
            out.append(_pooler(pooler_output, prompt_length))
        elif mode == "cls-before-pooler":
            out.append(_first_token(last_hidden, pool_mask) if prompt_length else last_hidden[:, 0])
        elif mode == "mean":
            out.append(_masked_mean(last_hidden, mask))
        elif mode == "mean-sqrt-len":
            summed = (last_hidden * mask).sum(dim=1)
            out.append(summed / mask.sum(dim=1).clamp(min=1e-9).sqrt())
        elif mode == "max":
            out.append(last_hidden.masked_fill(mask == 0, float("-inf")).max(dim=1).values)
        elif mode == "weighted-mean":
            # Position weights 1..L, as sentence-transformers' weightedmean (right padding).
            positions = torch.arange(1, last_hidden.shape[1] + 1, dtype=last_hidden.dtype)
            weights = mask * positions.view(1, -1, 1).to(last_hidden.device)
            out.append((last_hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9))
        elif mode == "lasttoken":  # zeros where the last real token lies inside the prompt
            real = attention_mask.unsqueeze(-1).to(last_hidden.dtype) if prompt_length else mask
            out.append(_last_token(last_hidden * mask if prompt_length else last_hidden, real))
        elif mode in ("mean-first-last", "mean-top2"):
            if hidden_states is None:
                raise ValueError(f"pooling {mode!r} needs the hidden states of every layer")
            # SimCSE: hidden_states[0] is the embedding layer, [1] the first transformer layer.
            first = hidden_states[1] if mode == "mean-first-last" else hidden_states[-2]
            out.append(_masked_mean((first + hidden_states[-1]) / 2.0, mask))
        else:
            raise FinesimError(f"unknown pooling {mode!r}")
    return out[0] if len(out) == 1 else torch.cat(out, dim=-1)
