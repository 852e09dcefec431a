"""The cross-encoder training runs the rerank benches share: one seeded starting folder, an
untimed warm-up pass, and a timed finesim ``train`` call."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def initial_folder(model: str, num_labels: int, seed: int, out: Path) -> Path:
    """``model``'s transformer with a fresh ``num_labels`` head drawn from ``seed``, saved as
    a cross-encoder folder: the one starting point both trainers load."""
    import torch

    from finesim.models.cross_encoder import CrossEncoder

    torch.manual_seed(seed)
    CrossEncoder(model, num_labels=num_labels).save(out)
    return out


def warm_up(start: Path, examples: list[Any], batch_size: int) -> None:
    """One untimed forward and backward pass on the initial model, so that neither timed run
    pays for torch's first-call setup (kernel choice, allocator) on its own."""
    from finesim.models.cross_encoder import CrossEncoder

    model = CrossEncoder(start).train()
    pairs = [(e.texts["anchor"], e.texts["positive"]) for e in examples[:batch_size]]
    model.logits(pairs).sum().backward()


def finesim_run(
    recipe: str, start: Path, examples: list[Any], settings: Sequence[str], out: Path
) -> dict[str, Any]:
    from finesim.training.config import load_config
    from finesim.training.trainer import train

    config = load_config(recipe, list(settings))
    started = time.perf_counter()
    summary = train(config, str(start), out, examples=examples, show_progress=False)
    seconds = time.perf_counter() - started
    return {
        "recipe": recipe,
        "settings": list(settings),
        "steps": summary["steps"],
        "seconds": seconds,
        "steps_per_s": summary["steps"] / seconds,
        "loop_seconds": summary["loop_seconds"],
    }
