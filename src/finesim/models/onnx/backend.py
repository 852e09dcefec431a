"""Run an Encoder's exported ONNX graph with onnxruntime: the ``onnx`` and ``onnx-int8`` backends.

``Encoder(model, backend="onnx")`` finds ``onnx/model.onnx`` in the model folder (written by
``finesim export``) when the export records the fingerprint of the weights being loaded
(``Encoder.fingerprint``: weights, tokenizer, pooling and settings), or else exports once
into finesim's cache, keyed by that fingerprint. So an export is never used for other weights
(a folder whose weights were replaced, ``whitening=False``, another pooling), and exports by
older finesims, which recorded only the pooling, are made again once. Tokenising,
length-sorted batching and normalisation stay in the Encoder; only the network runs here.

Nothing here knows the Encoder: ``open_backend`` is given the folder, the fingerprint and a
callable that writes an export, which the Encoder makes once it is complete on torch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from finesim.models import registry
from finesim.models.onnx.format import (
    FILES,
    ONNX_DIR,
    OUTPUT,
    OnnxRunner,
    check_backend,
    read_meta,
)

log = logging.getLogger(__name__)

Export = Callable[[Path], object]
"""Writes an exported folder (fp32 and int8 graphs) at the given path, replacing it."""


def default_backend(folder: Path) -> str:
    """What ``Encoder(folder)`` runs: the export's own choice, else torch."""
    meta = read_meta(folder)
    return str(meta.get("default_backend", "onnx")) if meta else "torch"


def cache_folder(folder: Path, fingerprint: str) -> Path:
    """Where an on-the-fly export lives: one entry per weights fingerprint (the folder's name
    only helps a reader of the cache)."""
    return registry.cache_dir() / "onnx" / f"{folder.absolute().name}-{fingerprint[:16]}"


def _exported_file(folder: Path, backend: str) -> Path | None:
    path = folder / ONNX_DIR / FILES[backend]
    return path if path.is_file() and read_meta(folder) is not None else None


def model_file(
    folder: Path, backend: str, *, fingerprint: Callable[[], str], export: Export, source: str
) -> Path:
    """The ONNX file for ``backend``: in the model folder, in the cache, or exported now.

    ``fingerprint`` gives the encoder's torch fingerprint (an export that records another,
    or none, is not used); ``export`` writes a fresh export into the cache; ``source`` names
    the model in the log.
    """
    key = fingerprint()
    found = _exported_file(folder, backend)
    meta = read_meta(folder)
    if found is not None and meta is not None and meta.get("fingerprint") == key:
        return found
    cached = cache_folder(folder, key)
    found = _exported_file(cached, backend)
    if found is None:
        if meta is not None:
            log.info("%s: its ONNX export is of other weights (or older); not used", folder)
        log.info("exporting %s to ONNX once, into %s", source, cached)
        cached.parent.mkdir(parents=True, exist_ok=True)
        export(cached)
        found = cached / ONNX_DIR / FILES[backend]
    return found


Runner = Callable[[Mapping[str, np.ndarray]], np.ndarray]
"""A graph run: tokenised features to the graph's output (``OnnxRunner``, ``OpenVinoRunner``)."""


def open_backend(
    folder: Path,
    backend: str | None,
    *,
    fingerprint: Callable[[], str],
    export: Export,
    source: str,
    output: str = OUTPUT,
) -> tuple[str, Runner | None]:
    """The backend name and, for an ONNX backend, its runner (None for torch) of the graph's
    ``output``: onnxruntime's, or OpenVINO's for ``openvino``. ``backend`` None takes the
    folder's own choice; the rest are ``model_file``'s.
    """
    name = check_backend(default_backend(folder) if backend is None else backend)
    if name == "torch":
        return name, None
    found = model_file(folder, name, fingerprint=fingerprint, export=export, source=source)
    if name == "openvino":
        from finesim.models.onnx.openvino import OpenVinoRunner

        return name, OpenVinoRunner(found, output=output)
    return name, OnnxRunner(found, output=output)
