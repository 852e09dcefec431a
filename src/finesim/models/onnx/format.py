"""What an exported folder looks like and how its graph is run: shared by export and backend.

Both sides need the file names, the export record and an onnxruntime session: the export to
check its graph against torch, the backend to run it. They live here, below both, so that
``export`` and ``backend`` never import each other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim._util.threads import cpu_count

ONNX_DIR = "onnx"
FILES = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx", "openvino": "model.onnx"}
"""The graph each ONNX backend runs: ``openvino`` runs the fp32 graph with OpenVINO."""
META_FILE = "finesim_onnx.json"
OUTPUT = "sentence_embedding"
BACKENDS = ("torch", "onnx", "onnx-int8", "openvino")


def check_backend(name: str) -> str:
    """``name`` if it is a backend, else a one-line error naming it and the choices."""
    if name not in BACKENDS:
        raise FinesimError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


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
    """An onnxruntime session mapping a tokenised batch to ``output``: (unnormalised) sentence
    vectors, or a cross-encoder's logits.

    The CPU arena is shrunk after every run. Left alone it keeps the high-water mark of every
    batch shape it has seen (+480 MB for minilm over mixed sentence and abstract batches);
    without an arena at all, large activations are mapped afresh by every operator (abstracts
    25% slower). Shrinking cost about 5% on abstracts and kept growth under 150 MB.
    """

    def __init__(
        self,
        path: Path,
        threads: int | None = None,
        profile_prefix: str | None = None,
        output: str = OUTPUT,
    ) -> None:
        import onnxruntime as ort

        self.path, self.output = Path(path), output
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
        out = self.session.run([self.output], feed, self.run_options)[0]
        return np.asarray(out, dtype=np.float32)


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The export record in ``folder/onnx``, or None for a folder never exported."""
    path = folder / ONNX_DIR / META_FILE
    if not path.is_file():
        return None
    try:
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, *JSON_ERRORS) as e:
        raise FinesimError(
            f"{path}: cannot read the ONNX export record ({json_problem(e)})"
        ) from None
    return meta
