"""What an Encoder is (``finesim info``) and its fingerprint (the key of every cache)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from finesim.models.encoder import Encoder
    from finesim.models.towers import Route


def describe(encoder: Encoder) -> dict[str, Any]:
    """What ``finesim info`` prints."""
    towers = {n: r.tower for n, r in encoder.routes.items()}
    return {
        "model": encoder.source,
        "architecture": ", ".join(
            type(getattr(t, "transformer", t)).__name__.replace("StaticTower", "StaticEmbedding")
            for t in towers.values()
        ),
        "routes": list(towers) if encoder.router else None,
        "prompts": encoder.prompts,
        "default_prompt_name": encoder.default_prompt_name,
        "dimension": encoder.dim,
        "max_length": encoder.max_length,
        "pooling": list(encoder.pooling),
        "dense_layers": len(encoder.dense),
        "normalize": encoder.normalize,
        "do_lower_case": encoder.do_lower_case,
        "backend": encoder.backend,
        "parameters": sum(p.numel() for p in encoder.parameters()),
    }


def fingerprint(encoder: Encoder, backend: str | None = None) -> str:
    """``Encoder.fingerprint``: the settings, every tokenizer and every weight, hashed.

    A one-route model hashes its weights under the names it had before routes existed, so
    its fingerprint, and the caches keyed by it, stay as they were.
    """
    digest = hashlib.blake2b(digest_size=16)
    settings: list[Any] = [
        encoder.pooling,
        encoder.normalize,
        encoder.max_length,
        encoder.do_lower_case,
    ]
    # appended only when set: fingerprints of models without them stay as they were
    if encoder.truncate_dim is not None:
        settings.append(("truncate_dim", encoder.truncate_dim))
    if encoder.prompts or encoder.default_prompt_name:
        settings.append(("prompts", sorted(encoder.prompts.items()), encoder.default_prompt_name))
    if encoder.router is not None:
        settings.append(("router", repr(encoder.router)))
    routes: list[Route] = list(encoder.routes.values())  # type: ignore[arg-type]
    for route in routes:
        if not route.tower.include_prompt:
            settings.append(("include_prompt", False))
    settings.append(backend or getattr(encoder, "backend", "torch"))  # int8 differs from fp32
    digest.update(repr(settings).encode())
    for route in routes:
        digest.update(route.tower.tokenizer_json().encode())
    prefix = "routes.default.tower." if encoder.router is None else "\0"
    hash_weights(digest, encoder.state_dict(), prefix)
    return digest.hexdigest()


def hash_weights(digest: Any, weights: dict[str, torch.Tensor], prefix: str = "") -> None:
    """Feed every tensor's name (less ``prefix``) and raw bytes to ``digest``: the weights'
    part of a fingerprint (the Encoder's and the CrossEncoder's)."""
    for name, tensor in weights.items():
        digest.update(name.removeprefix(prefix).encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
