"""Where finesim finds evaluation data: ``$FINESIM_DATA``, else ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

from finesim._util.errors import FinesimError


def data_root() -> Path:
    """The data folder: ``$FINESIM_DATA``, else ``../shared/data`` from the working directory
    or from the source checkout, whichever exists."""
    if "FINESIM_DATA" in os.environ:
        return Path(os.environ["FINESIM_DATA"])
    candidates = [Path.cwd().parent / "shared" / "data"]
    candidates.append(Path(__file__).resolve().parents[4] / "shared" / "data")
    return next((c for c in candidates if c.is_dir()), candidates[0])


def data_path(*parts: str) -> Path:
    """A file or folder under the data root; a clear error if it is not there."""
    path = data_root().joinpath(*parts)
    if not path.exists():
        raise FinesimError(f"{path}: not found (set FINESIM_DATA to the data folder)")
    return path
