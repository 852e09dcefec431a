"""Checkpoints that a crash cannot corrupt: a folder written beside the old one, then swapped
in for it in one atomic step (``finesim._util.atomic``).

A checkpoint is a sentence-transformers folder (usable as a model) plus
``trainer_model.safetensors`` (the exact in-memory weights) and ``trainer_state.pt``
(optimizer, scheduler, loss parameters, RNG states, data position), read back with
``torch.load(weights_only=True)``, and ``README.md``, its model card (``model_card``), written
inside the same atomic write.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim.models.cross_encoder import CrossEncoder
from finesim.models.encoder import Encoder
from finesim.training import model_card

Model = Encoder | CrossEncoder  # what the trainer trains: either writes its own folder

STATE = "trainer_state.pt"
WEIGHTS = "trainer_model.safetensors"


def rng_state() -> dict[str, Any]:
    """Every RNG that training draws from, as plain lists (sendable between processes)."""
    version, keys, gauss = random.getstate()
    kind, array, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state().tolist(),
        "python": [version, list(keys), gauss],
        "numpy": [kind, np.asarray(array).tolist(), pos, has_gauss, cached],
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    kind, array, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.array(array, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def save(folder: Path, encoder: Model, state: dict[str, Any], card: model_card.Card) -> None:
    """A checkpoint with its model card, swapped in whole."""
    with atomic_path(folder, directory=True) as tmp:
        encoder.write_folder(tmp)
        weights = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
        save_file(weights, str(tmp / WEIGHTS))
        torch.save(state, tmp / STATE)
        model_card.write(tmp, card)


def save_model(folder: Path, encoder: Model, card: model_card.Card) -> None:
    """A sentence-transformers folder with its model card (``best/``), swapped in whole."""
    with atomic_path(folder, directory=True) as tmp:
        encoder.write_folder(tmp)
        model_card.write(tmp, card)


def found(folder: Path) -> bool:
    """Whether ``folder`` holds a checkpoint to resume from (False: none yet). A folder there
    that is not a whole checkpoint stops the run: resuming must never silently start over."""
    if not folder.exists():
        return False
    missing = [name for name in (STATE, WEIGHTS) if not (folder / name).is_file()]
    if missing:
        raise FinesimError(
            f"{folder}: not a complete checkpoint ({', '.join(missing)} missing); "
            "move it away to start over, or resume from a copy that has them"
        )
    return True


def load(folder: Path, encoder: Model) -> dict[str, Any]:
    """Restore the encoder's weights in place and return the trainer state."""
    try:
        weights = load_file(str(folder / WEIGHTS))
        state: dict[str, Any] = torch.load(folder / STATE, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as e:
        raise FinesimError(
            f"{folder}: unreadable checkpoint ({e}); move it away to start over"
        ) from None
    encoder.load_state_dict(weights)
    return state
