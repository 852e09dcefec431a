"""What every command does the same way: load the encoder its options name, print a result.

Why: each command module had its own loader and JSON printer, and they drifted (escaping,
newlines, atomic or not). Commands call these two instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from finesim._util.errors import FinesimError
from finesim._util.jsonio import dumps, write_json

if TYPE_CHECKING:
    from finesim.models.encoder import Encoder


def load_encoder(
    model: str,
    pooling: str | None = None,
    trust_pickle: bool = False,
    backend: str | None = None,
    truncate_dim: int | None = None,
) -> Encoder:
    """The encoder of ``--model/--pooling/--trust-pickle/--backend/--truncate-dim`` (loaded now).

    Bad values (an unknown model, pooling or backend) raise ``FinesimError`` from the encoder.
    """
    from finesim.models.encoder import Encoder
    from finesim.models.spec import EncoderSpec

    spec = EncoderSpec(
        model=model,
        pooling=pooling,
        trust_pickle=trust_pickle,
        backend=backend,
        truncate_dim=truncate_dim,
    )
    return Encoder.from_spec(spec)


def emit_json(data: Any, path: Path | None = None) -> None:
    """Print ``data`` as JSON on stdout and, with ``path``, also write it there (atomically).

    Printed first, so a long benchmark's result is not lost when the file cannot be written.
    """
    typer.echo(dumps(data))
    if path is not None:
        if not path.parent.is_dir():
            raise FinesimError(f"{path.parent}: no such folder for the output")
        write_json(path, data)


def split_names(value: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the comma-separated lists of the bench options."""
    return [v.strip() for v in value.split(",") if v.strip()]


def set_threads(threads: int) -> None:
    """``--threads N``: torch's intra-op threads (0 leaves torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
