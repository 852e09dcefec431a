"""Export a CrossEncoder to ONNX: the ``onnx`` and ``onnx-int8`` backends of a reranker.

The graph maps ``input_ids``, ``attention_mask`` (and ``token_type_ids``) of tokenised pairs
to the head's ``logits``; the activation (sigmoid, softmax) stays in the CrossEncoder, a
per-call choice. The choices are the Encoder's (``export``): eager attention traced, the
BERT fusion where the model type has it, dynamic per-channel int8 weights, and every graph
run against torch on a padded batch before it is kept.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim.models.onnx.export import (
    FP32_TOLERANCE,
    OPSET,
    PROBES,
    eager_attention,
    fuse_graph,
    quantize_int8,
)
from finesim.models.onnx.format import FILES, META_FILE, ONNX_DIR, OnnxRunner

if TYPE_CHECKING:
    from finesim.models.cross_encoder import CrossEncoder

log = logging.getLogger(__name__)

LOGITS = "logits"
# Pairs of very different lengths, so that the checks run on padded batches.
PROBE_PAIRS = list(zip(PROBES, reversed(PROBES), strict=True))


class _Logits(nn.Module):
    """Inputs by keyword, logits out (recent transformers reorders positional arguments)."""

    def __init__(self, cross: CrossEncoder) -> None:
        super().__init__()
        self.cross = cross

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            features["token_type_ids"] = token_type_ids
        return self.cross.model(**features, return_dict=True).logits


def _logits_onnx(path: Path, features: dict[str, torch.Tensor]) -> np.ndarray:
    runner = OnnxRunner(path, output=LOGITS)
    batches = [features, {k: v[:1] for k, v in features.items()}]  # padded batch, and one pair
    return np.concatenate([runner({k: v.numpy() for k, v in b.items()}) for b in batches])


def _logits_torch(cross: CrossEncoder, features: dict[str, torch.Tensor]) -> np.ndarray:
    with torch.inference_mode():
        full = cross.forward(features)
        one = cross.forward({k: v[:1] for k, v in features.items()})
    return torch.cat([full, one]).float().cpu().numpy()


def _trace(cross: CrossEncoder, features: dict[str, torch.Tensor], path: Path) -> None:
    names = list(features)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[LOGITS] = {0: "batch"}
    with eager_attention(cross.model), torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about transformers
        torch.onnx.export(
            _Logits(cross).eval(),
            (),
            str(path),
            kwargs=dict(features),
            input_names=names,
            output_names=[LOGITS],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _write_fp32(cross: CrossEncoder, folder: Path, features: dict[str, torch.Tensor],
                reference: np.ndarray) -> dict[str, Any]:  # fmt: skip
    """Trace, fuse where possible, keep the fused graph only if it matches torch."""
    plain, target = folder / "plain.onnx", folder / FILES["onnx"]
    _trace(cross, features, plain)
    fused = False
    try:
        fused = fuse_graph(cross.model.config, plain, target)
    except Exception as e:  # noqa: BLE001 - fusion is an optimisation; the plain graph works
        log.warning("onnxruntime fusion failed (%s); keeping the plain graph", e)
    if fused and float(np.abs(_logits_onnx(target, features) - reference).max()) > FP32_TOLERANCE:
        log.warning("fused cross-encoder graph differs from torch; keeping the plain graph")
        fused = False
    if not fused:
        plain.replace(target)
    plain.unlink(missing_ok=True)
    diff = float(np.abs(_logits_onnx(target, features) - reference).max())
    if diff > FP32_TOLERANCE:
        raise FinesimError(
            f"ONNX export of {cross.source} differs from torch by {diff:.1e} "
            f"(> {FP32_TOLERANCE:.0e}) on padded batches; not kept"
        )
    return {"fused": fused, "fp32_max_abs_diff": diff}


def export_cross_onnx(cross: CrossEncoder, out: Path, *, overwrite: bool = False) -> Path:
    """Write ``out``: the cross-encoder's folder plus ``onnx/model.onnx`` (fp32) and
    ``onnx/model_int8.onnx``, with a record of the torch weights they were made from."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    features, _ = cross.tokenize(PROBE_PAIRS)
    reference = _logits_torch(cross, features)
    with atomic_path(out, directory=True) as tmp:
        cross.write_folder(tmp)
        folder = tmp / ONNX_DIR
        folder.mkdir()
        meta: dict[str, Any] = {
            "source": cross.source,
            "kind": "cross-encoder",
            "opset": OPSET,
            "inputs": list(features),
            "output": LOGITS,
            "fingerprint": cross.fingerprint(),
            "default_backend": "onnx",
            **_write_fp32(cross, folder, features, reference),
        }
        quantize_int8(folder / FILES["onnx"], folder / FILES["onnx-int8"])
        int8 = _logits_onnx(folder / FILES["onnx-int8"], features)
        meta["int8_scheme"] = "dynamic, per-channel int8 weights"
        meta["int8_max_abs_logit_diff"] = round(float(np.abs(int8 - reference).max()), 6)
        (folder / META_FILE).write_text(json.dumps(meta, indent=2))
    log.info("exported the cross-encoder %s to %s", cross.source, out)
    return out
