"""What the machine can do: CPU name, cores, and its measured fp32 GEMM peak."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.threads import cpu_count
from finesim.models.onnx.format import session_options


def cpu_name() -> str:
    """The CPU model as the kernel reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The vector extensions that decide which kernels onnxruntime, MKL and oneDNN run.
VECTOR_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


def vector_extensions() -> list[str]:
    """The CPU's SIMD extensions (of ``VECTOR_FLAGS``), as /proc/cpuinfo lists them."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                have = set(line.split(":", 1)[1].split())
                return [f for f in VECTOR_FLAGS if f in have]
    except OSError:
        pass
    return []


def machine_summary() -> dict[str, Any]:
    """CPU, cores, vector extensions and the load when the run began (other jobs on the
    machine): what every benchmark JSON names its machine by."""
    return {
        "cpu": cpu_name(),
        "cores": cpu_count(),
        "vector_extensions": vector_extensions(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def _best_gflops(matmul: Callable[[], Any], size: int, repeats: int) -> float:
    matmul()  # warm-up: thread pools, packing buffers
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _one_matmul(op: str, a: np.ndarray, b: np.ndarray, out_type: int) -> Callable[[], Any]:
    """A session of one onnxruntime ``op`` (MatMul, MatMulInteger) on ``a`` (an input) and
    ``b`` (a constant, prepacked as a model's weights are), and a call that runs it."""
    import onnx
    import onnx.numpy_helper
    import onnxruntime as ort
    from onnx import helper

    shape = list(a.shape)
    graph = helper.make_graph(
        [helper.make_node(op, ["A", "B"], ["C"])],
        op,
        [helper.make_tensor_value_info("A", helper.np_dtype_to_tensor_dtype(a.dtype), shape)],
        [helper.make_tensor_value_info("C", out_type, [shape[0], b.shape[1]])],
        [onnx.numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, onnx.IR_VERSION, 9)
    session = ort.InferenceSession(
        model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"]
    )
    return lambda: session.run(None, {"A": a})


def int8_gemm_gops(size: int = 2048, repeats: int = 10) -> float:
    """Best GOP/s of onnxruntime's u8 x s8 ``MatMulInteger`` (the kernel of the onnx-int8
    backend's dynamically quantised matmuls), on all cores.

    Beside ``gemm_gflops`` it bounds what int8 can gain on this CPU: with VNNI one
    instruction does a 4-way u8 x s8 dot product; on AVX2 the two-step multiply-add pairs
    of VPMADDUBSW / VPMADDWD do less than twice fp32 FMA's work.
    """
    from onnx import TensorProto

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (size, size), dtype=np.uint8)
    b = rng.integers(-128, 128, (size, size), dtype=np.int8)
    matmul = _one_matmul("MatMulInteger", a, b, TensorProto.INT32)
    return round(_best_gflops(matmul, size, repeats), 1)


def gemm_gflops(size: int = 2048, repeats: int = 10) -> dict[str, float]:
    """Best fp32 GFLOP/s of repeated ``size``-square matmuls on all cores, per library.

    The libraries differ by CPU (MKL in torch takes a slower path on some AMD CPUs), so the
    machine's peak is the best of the three.
    """
    import torch
    from onnx import TensorProto

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    with torch.inference_mode():
        found = {
            "torch": _best_gflops(lambda: torch.mm(ta, tb), size, repeats),
            "numpy": _best_gflops(lambda: a @ b, size, repeats),
            "onnxruntime": _best_gflops(
                _one_matmul("MatMul", a, b, TensorProto.FLOAT), size, repeats
            ),
        }
    return {k: round(v, 1) for k, v in found.items()}


def machine_info(gemm: dict[str, float]) -> dict[str, Any]:
    return {
        **machine_summary(),
        "gemm_gflops": max(gemm.values()),
        "gemm_gflops_by_library": gemm,
    }
