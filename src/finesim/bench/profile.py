"""Where an ONNX backend's time goes: onnxruntime's own per-kernel profile, by operator type.

Fused GEMM kernels (MatMul, MatMulNBits, Attention) against the memory-bound rest (layer
norms, GELU) says what limits a backend short of the GEMM peak.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from finesim.models.encoder import Encoder
from finesim.models.onnx.format import OnnxRunner


def summarise(profile_file: Path) -> dict[str, Any]:
    """Kernel seconds and each operator type's share of them, largest first."""
    events = json.loads(profile_file.read_text())
    by_op: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            by_op[event["args"]["op_name"]] += event["dur"]
    total = sum(by_op.values()) or 1
    return {
        "kernel_s": round(total / 1e6, 3),
        "op_share": {op: round(us / total, 3) for op, us in by_op.most_common(8)},
    }


def onnx_profile(encoder: Encoder, texts: list[str], batch_size: int) -> dict[str, Any]:
    """Encode ``texts`` once through a profiling copy of the encoder's session."""
    saved = encoder._onnx
    with tempfile.TemporaryDirectory(prefix="finesim-profile-") as tmp:
        encoder._onnx = OnnxRunner(saved.path, profile_prefix=os.path.join(tmp, "ort"))
        try:
            encoder.encode(texts, batch_size=batch_size, show_progress=False)
            path = Path(encoder._onnx.session.end_profiling())
        finally:
            encoder._onnx = saved
        return summarise(path)
