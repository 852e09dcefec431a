"""Run an Encoder's exported ONNX graph with onnxruntime: the ``onnx`` and ``onnx-int8`` backends.

``Encoder(model, backend="onnx")`` finds ``onnx/model.onnx`` in the model folder (written by
``finesim export``) or, for a folder never exported, exports once into finesim's cache keyed
by the folder (its path, file sizes and dates, and the pooling). Tokenising, length-sorted
batching and normalisation stay in the Encoder; only the network runs here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.threads import cpu_count
from finesim.models import registry
from finesim.models.onnx.export import FILES, META_FILE, ONNX_DIR, OUTPUT, export_onnx

if TYPE_CHECKING:
    from finesim.models.encoder import Encoder

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")


def session_options(threads: int | None = None) -> Any:
    """One intra-op thread per core, sequential graph, every graph optimisation.

    Memory patterns are off: they are planned for one input shape, and every batch has
    another. (The arena stays on; ``OnnxRunner`` shrinks it after each run.)
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_count()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_mem_pattern = False
    options.log_severity_level = 3  # errors only: no warnings about unused initializers
    return options


class OnnxRunner:
    """An onnxruntime session mapping a tokenised batch to (unnormalised) sentence vectors.

    The CPU arena is shrunk after every run. Left alone it keeps the high-water mark of every
    batch shape it has seen (+480 MB for minilm over mixed sentence and abstract batches);
    without an arena at all, large activations are mapped afresh by every operator (abstracts
    25% slower). Shrinking cost about 5% on abstracts and kept growth under 150 MB.
    """

    def __init__(
        self, path: Path, threads: int | None = None, profile_prefix: str | None = None
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        options = session_options(threads)
        if profile_prefix is not None:  # per-kernel timings, for ``finesim bench --profile``
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        self.session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.run_options = ort.RunOptions()
        self.run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def __call__(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        feed = {name: features[name] for name in self.inputs}
        out = self.session.run([OUTPUT], feed, self.run_options)[0]
        return np.asarray(out, dtype=np.float32)


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The export record in ``folder/onnx``, or None for a folder never exported."""
    path = folder / ONNX_DIR / META_FILE
    if not path.is_file():
        return None
    try:
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise FinesimError(f"{path}: cannot read the ONNX export record ({e})") from None
    return meta


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


def model_file(encoder: Encoder, folder: Path, backend: str) -> Path:
    """The ONNX file for ``backend``: in the model folder, in the cache, or exported now."""
    found = _exported_file(folder, backend)
    meta = read_meta(folder)
    if found is not None and meta is not None and tuple(meta["pooling"]) == encoder.pooling:
        return found
    cached = cache_folder(folder, encoder.pooling)
    found = _exported_file(cached, backend)
    if found is None:
        log.info("exporting %s to ONNX once, into %s", encoder.source, cached)
        cached.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(encoder, cached, int8=True, overwrite=True)
        found = cached / ONNX_DIR / FILES[backend]
    return found


def open_backend(
    encoder: Encoder, folder: Path, backend: str | None
) -> tuple[str, OnnxRunner | None]:
    """The backend name and, for an ONNX backend, its runner (None for torch)."""
    name = default_backend(folder) if backend is None else backend
    if name not in BACKENDS:
        raise FinesimError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "torch":
        return name, None
    return name, OnnxRunner(model_file(encoder, folder, name))
