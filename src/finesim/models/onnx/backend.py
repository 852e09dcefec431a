"""Run an Encoder's exported ONNX graph with onnxruntime: the ``onnx`` and ``onnx-int8`` backends.

``Encoder(model, backend="onnx")`` finds ``onnx/model.onnx`` in the model folder (written by
``finesim export``) or, for a folder never exported, exports once into finesim's cache keyed
by the folder (its path, file sizes and dates, and the pooling). Tokenising, length-sorted
batching and normalisation stay in the Encoder; only the network runs here.

Nothing here knows the Encoder: ``open_backend`` is given the folder, the pooling and a
callable that writes an export, which the Encoder makes once it is complete on torch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from finesim.models import registry
from finesim.models.onnx.format import FILES, ONNX_DIR, OnnxRunner, check_backend, read_meta

log = logging.getLogger(__name__)

Export = Callable[[Path], object]
"""Writes an exported folder (fp32 and int8 graphs) at the given path, replacing it."""


def default_backend(folder: Path) -> str:
    """What ``Encoder(folder)`` runs: the export's own choice, else torch."""
    meta = read_meta(folder)
    return str(meta.get("default_backend", "onnx")) if meta else "torch"


def cache_folder(folder: Path, pooling: tuple[str, ...]) -> Path:
    """Where a folder's on-the-fly export lives: one entry per folder state and pooling."""
    folder = folder.resolve()
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{folder}\n{pooling}\n".encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and ONNX_DIR not in path.relative_to(folder).parts:
            stat = path.stat()
            digest.update(
                f"{path.relative_to(folder)} {stat.st_size} {stat.st_mtime_ns}\n".encode()
            )
    return registry.cache_dir() / "onnx" / f"{folder.name}-{digest.hexdigest()}"


def _exported_file(folder: Path, backend: str) -> Path | None:
    path = folder / ONNX_DIR / FILES[backend]
    return path if path.is_file() and read_meta(folder) is not None else None


def model_file(
    folder: Path, backend: str, *, pooling: tuple[str, ...], export: Export, source: str
) -> Path:
    """The ONNX file for ``backend``: in the model folder, in the cache, or exported now.

    ``pooling`` is the encoder's (an export made with another pooling is not used);
    ``export`` writes a fresh export into the cache; ``source`` names the model in the log.
    """
    found = _exported_file(folder, backend)
    meta = read_meta(folder)
    if found is not None and meta is not None and tuple(meta["pooling"]) == pooling:
        return found
    cached = cache_folder(folder, pooling)
    found = _exported_file(cached, backend)
    if found is None:
        log.info("exporting %s to ONNX once, into %s", source, cached)
        cached.parent.mkdir(parents=True, exist_ok=True)
        export(cached)
        found = cached / ONNX_DIR / FILES[backend]
    return found


def open_backend(
    folder: Path, backend: str | None, *, pooling: tuple[str, ...], export: Export, source: str
) -> tuple[str, OnnxRunner | None]:
    """The backend name and, for an ONNX backend, its runner (None for torch).

    ``backend`` None takes the folder's own choice; the other arguments are ``model_file``'s.
    """
    name = check_backend(default_backend(folder) if backend is None else backend)
    if name == "torch":
        return name, None
    return name, OnnxRunner(model_file(folder, name, pooling=pooling, export=export, source=source))
