"""Export an Encoder to ONNX: an fp32 graph with fused BERT kernels, and an int8 copy.

The graph maps ``input_ids``, ``attention_mask`` (and ``token_type_ids`` where the tokenizer
has them) to ``sentence_embedding``: transformer, pooling and dense layers, not normalised, so
that ``normalize`` stays a per-call choice. Batch and sequence axes are dynamic. Every export
is run against torch on padded batches before it is kept.

Choices, measured on all-MiniLM-L6-v2 (README, "Backends"):
- the transformer is traced with eager attention: its MatMul/Softmax pattern is what
  onnxruntime's BERT fusion recognises (SDPA's is not), and the fused graph (one attention
  kernel, skip-layer-norm, bias-GELU) runs about twice as fast as the plain one;
- int8 is onnxruntime's dynamic quantisation with per-channel int8 weights, on the fused
  graph (so attention becomes one QAttention kernel). Per-tensor weights were too lossy (mean
  cosine 0.958 in the issue; 0.969 here). 8-bit block-wise weights (``MatMulNBits``, blocks of
  32) were closer to fp32 (cosine 0.9998) but ran no faster than fp32 here (AMD EPYC,
  onnxruntime 1.32), so are not used. Activations are quantised per batch tensor, so a
  text's int8 vector depends slightly on its batch neighbours.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim.models.onnx.format import FILES, META_FILE, ONNX_DIR, OUTPUT, OnnxRunner

if TYPE_CHECKING:
    from finesim.models.encoder import Encoder

log = logging.getLogger(__name__)

OPSET = 17
FP32_TOLERANCE = 1e-4
# Model types whose attention onnxruntime's "bert" fusion handles.
FUSABLE = {"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra"}
# Texts of very different lengths, so that the checks run on padded batches.
PROBES = [
    "A man is playing a guitar.",
    "dog",
    "The central bank raised interest rates for the third time this year, surprising markets.",
    "We propose a contrastive objective for sentence embeddings and evaluate it on STS.",
    "Two children play in the snow near a red house while their parents watch from the porch.",
    "a",
    " ".join(["the result of the method on the background data is very good"] * 40),
]


Forward = Callable[[dict[str, torch.Tensor]], torch.Tensor]
"""A model's inference: tokenised features to the graph's one output (vectors or logits)."""


class _KeywordInputs(nn.Module):
    """Inputs by keyword: recent transformers reorders forward's positional arguments.
    ``owner`` is registered so the trace sees its weights as the graph's."""

    def __init__(self, run: Forward, owner: nn.Module) -> None:
        super().__init__()
        self.owner, self.run = owner, run

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            features["token_type_ids"] = token_type_ids
        return self.run(features)


@contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Trace with eager attention (the pattern onnxruntime fuses), then restore the model's."""
    before = getattr(model.config, "_attn_implementation", None)
    setter = getattr(model, "set_attn_implementation", None)
    if setter is not None and before not in (None, "eager"):
        setter("eager")
    try:
        yield
    finally:
        if setter is not None and before not in (None, "eager"):
            setter(before)


def _probe_features(encoder: Encoder) -> dict[str, torch.Tensor]:
    features, _ = encoder.tokenize(PROBES)
    return features


def trace_graph(
    run: Forward,
    owner: nn.Module,
    transformer: nn.Module,
    features: dict[str, torch.Tensor],
    path: Path,
    output: str = OUTPUT,
) -> None:
    """Trace ``run`` on ``features`` to ``path`` with eager attention, batch and sequence
    axes dynamic."""
    names = list(features)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[output] = {0: "batch"}
    with eager_attention(transformer), torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about transformers
        torch.onnx.export(
            _KeywordInputs(run, owner).eval(),
            (),
            str(path),
            kwargs=dict(features),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def fuse_graph(config: Any, src: Path, dst: Path) -> bool:
    """onnxruntime's offline BERT fusion of a transformer with ``config`` (a transformers
    config); False where the model type is not one it handles."""
    if getattr(config, "model_type", "") not in FUSABLE:
        return False
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    with redirect_stdout(StringIO()):
        model = optimizer.optimize_model(
            str(src),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
            optimization_options=FusionOptions("bert"),
            opt_level=0,  # python fusions only: the file stays portable across CPUs
        )
    model.save_model_to_file(str(dst))
    return True


def quantize_int8(src: Path, dst: Path) -> None:
    """Write an int8 copy of the fp32 graph ``src``: dynamic, per-channel weights."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    quantize_dynamic(
        src,
        dst,
        per_channel=True,
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops lack types
    )


def graph_outputs(
    path: Path, features: dict[str, torch.Tensor], output: str = OUTPUT
) -> np.ndarray:
    """The graph's ``output`` on the padded batch, then on its first row alone."""
    runner = OnnxRunner(path, output=output)
    batches = [features, {k: v[:1] for k, v in features.items()}]  # padded batch, and one text
    return np.concatenate([runner({k: v.numpy() for k, v in b.items()}) for b in batches])


def torch_outputs(run: Forward, features: dict[str, torch.Tensor]) -> np.ndarray:
    """``graph_outputs``' reference: ``run`` on the same two batches."""
    with torch.inference_mode():
        full = run(features)
        one = run({k: v[:1] for k, v in features.items()})
    return torch.cat([full, one]).float().cpu().numpy()


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def write_fp32(
    run: Forward,
    owner: nn.Module,
    transformer: nn.Module,
    folder: Path,
    features: dict[str, torch.Tensor],
    reference: np.ndarray,
    source: str,
    output: str = OUTPUT,
) -> dict[str, Any]:
    """Trace, fuse where possible, keep the fused graph only if it matches ``reference``
    (``torch_outputs``, within ``FP32_TOLERANCE`` on padded batches), else the plain one,
    else refuse."""
    plain, target = folder / "plain.onnx", folder / FILES["onnx"]
    trace_graph(run, owner, transformer, features, plain, output)
    fused = False
    try:
        fused = fuse_graph(transformer.config, plain, target)
    except Exception as e:  # noqa: BLE001 - fusion is an optimisation; the plain graph works
        log.warning("onnxruntime fusion failed (%s); keeping the plain graph", e)
    if fused:
        diff = float(np.abs(graph_outputs(target, features, output) - reference).max())
        if diff > FP32_TOLERANCE:
            log.warning("fused graph differs from torch by %.1e; keeping the plain graph", diff)
            fused = False
    if not fused:
        plain.replace(target)
    plain.unlink(missing_ok=True)
    diff = float(np.abs(graph_outputs(target, features, output) - reference).max())
    if diff > FP32_TOLERANCE:
        raise FinesimError(
            f"ONNX export of {source} differs from torch by {diff:.1e} "
            f"(> {FP32_TOLERANCE:.0e}) on padded batches; not kept"
        )
    return {"fused": fused, "fp32_max_abs_diff": diff}


def export_onnx(
    encoder: Encoder,
    out: Path,
    *,
    int8: bool = True,
    default_backend: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``out``: the sentence-transformers files plus ``onnx/model.onnx`` (fp32) and,
    with ``int8``, ``onnx/model_int8.onnx``. ``Encoder(out)`` then runs ``default_backend``
    (int8 where exported, else fp32); ``Encoder(out, backend=...)`` picks another."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FinesimError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FinesimError(f"{out.parent}: no such folder for the exported model")
    default = default_backend or ("onnx-int8" if int8 else "onnx")
    if default == "onnx-int8" and not int8:
        raise FinesimError("default backend onnx-int8 needs the int8 model (int8=True)")
    features = _probe_features(encoder)

    def run(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return encoder.forward(batch, normalize=False)

    reference = torch_outputs(run, features)
    with atomic_path(out, directory=True) as tmp:
        encoder.write_folder(tmp)
        folder = tmp / ONNX_DIR
        folder.mkdir()
        meta: dict[str, Any] = {
            "source": encoder.source,
            "opset": OPSET,
            "inputs": list(features),
            "output": OUTPUT,
            "pooling": list(encoder.pooling),
            "fingerprint": encoder.fingerprint(backend="torch"),  # of the weights exported
            "default_backend": default,
            **write_fp32(
                run, encoder, encoder.transformer, folder, features, reference, encoder.source
            ),
        }
        if int8:
            quantize_int8(folder / FILES["onnx"], folder / FILES["onnx-int8"])
            cos = _cosines(graph_outputs(folder / FILES["onnx-int8"], features), reference)
            meta |= {
                "int8_scheme": "dynamic, per-channel int8 weights",
                "int8_mean_cos": round(float(cos.mean()), 6),
                "int8_min_cos": round(float(cos.min()), 6),
            }
        (folder / META_FILE).write_text(json.dumps(meta, indent=2))
    log.info("exported %s to %s (%s)", encoder.source, out, ", ".join(sorted(FILES)))
    return out
