"""Run the exported fp32 ONNX graph with OpenVINO: the ``openvino`` backend.

OpenVINO reads the very ``onnx/model.onnx`` the ``onnx`` backend runs (its ONNX front end
knows onnxruntime's fused BERT kernels), so there is nothing more to export and the vectors
equal the ``onnx`` backend's to float rounding. It is here because on some CPUs its kernels
are faster than onnxruntime's: on the 2-core AVX2 machine of benchmarks/encode, minilm
sentences ran about 1.2x the ``onnx`` backend's speed and abstracts about the same. The
``openvino`` package is optional (the ``openvino`` extra); asking for the backend without it
is a one-line error.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.threads import cpu_count
from finesim.models.onnx.format import OUTPUT

FEATURES = ("input_ids", "attention_mask", "token_type_ids")


def _openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise FinesimError(
            "the openvino backend needs the openvino package: pip install 'finesim[openvino]'"
        ) from None
    return openvino


def _input_name(port: Any) -> str:
    """The feature a graph input takes (OpenVINO may name a port by another tensor too)."""
    names = port.get_names()
    for name in FEATURES:
        if name in names:
            return name
    raise FinesimError(f"ONNX graph input {sorted(names)} is none of {', '.join(FEATURES)}")


class OpenVinoRunner:
    """An OpenVINO CPU model mapping a tokenised batch to ``output``; one infer request per
    calling thread (a request is not thread-safe, the compiled model is)."""

    def __init__(self, path: Path, threads: int | None = None, output: str = OUTPUT) -> None:
        ov = _openvino()
        self.path, self.output = Path(path), output
        config = {
            "PERFORMANCE_HINT": "LATENCY",  # one request at a time, every core on it
            "INFERENCE_NUM_THREADS": threads or cpu_count(),
            "INFERENCE_PRECISION_HINT": "f32",  # no silent bf16 on CPUs that have it
        }
        try:
            self.model = ov.Core().compile_model(str(self.path), "CPU", config)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise FinesimError(f"{self.path}: OpenVINO cannot compile it ({first})") from None
        self.inputs = [_input_name(port) for port in self.model.inputs]
        self._port = self.model.output(output)
        self._local = threading.local()

    def __call__(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.model.create_infer_request()
        out = request.infer({name: features[name] for name in self.inputs})
        return np.array(out[self._port], dtype=np.float32)  # a copy: the request reuses it
