"""Export a CrossEncoder to ONNX: the ``onnx`` and ``onnx-int8`` backends of a reranker.

The graph maps ``input_ids``, ``attention_mask`` (and ``token_type_ids``) of tokenised pairs
to the head's ``logits``; the activation (sigmoid, softmax) stays in the CrossEncoder, a
per-call choice. The choices and the code are the Encoder's (``export``: ``write_fp32``,
``quantize_int8``): eager attention traced, the BERT fusion where the model type has it,
dynamic per-channel int8 weights, every graph run against torch on a padded batch before it
is kept.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim.models.onnx.export import (
    OPSET,
    PROBES,
    graph_outputs,
    quantize_int8,
    torch_outputs,
    write_fp32,
)
from finesim.models.onnx.format import FILES, META_FILE, ONNX_DIR

if TYPE_CHECKING:
    from finesim.models.cross_encoder import CrossEncoder

log = logging.getLogger(__name__)

LOGITS = "logits"
# Pairs of very different lengths, so that the checks run on padded batches.
PROBE_PAIRS = list(zip(PROBES, reversed(PROBES), strict=True))


def export_cross_onnx(cross: CrossEncoder, out: Path, *, overwrite: bool = False) -> Path:
    """Write ``out``: the cross-encoder's folder plus ``onnx/model.onnx`` (fp32) and
    ``onnx/model_int8.onnx``, with a record of the torch weights they were made from."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    features, _ = cross.tokenize(PROBE_PAIRS)
    reference = torch_outputs(cross.forward, features)
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
            **write_fp32(
                cross.forward,
                cross,
                cross.model,
                folder,
                features,
                reference,
                cross.source,
                LOGITS,
            ),  # fmt: skip
        }
        quantize_int8(folder / FILES["onnx"], folder / FILES["onnx-int8"])
        int8 = graph_outputs(folder / FILES["onnx-int8"], features, LOGITS)
        meta["int8_scheme"] = "dynamic, per-channel int8 weights"
        meta["int8_max_abs_logit_diff"] = round(float(np.abs(int8 - reference).max()), 6)
        (folder / META_FILE).write_text(json.dumps(meta, indent=2))
    log.info("exported the cross-encoder %s to %s", cross.source, out)
    return out
