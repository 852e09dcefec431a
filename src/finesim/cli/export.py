"""``finesim export``: a model folder plus its ONNX graphs, for the onnx/onnx-int8 backends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import emit_json, load_encoder
from finesim.cli.options import ModelOpt, PoolingOpt, TrustOpt


def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (must not exist).")],
    model: ModelOpt = "minilm",
    quantize: Annotated[
        str | None, typer.Option(help="int8: also write onnx/model_int8.onnx and make it default.")
    ] = None,
    pooling: PoolingOpt = None,
    trust_pickle: TrustOpt = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the export record.")] = False,
) -> None:
    """Export to ONNX (fp32, checked against torch on padded batches; int8 with --quantize)."""
    from finesim.models.onnx.export import export_onnx
    from finesim.models.onnx.format import read_meta

    if quantize not in (None, "int8"):
        raise FinesimError(f"--quantize takes int8, not {quantize!r}")
    encoder = load_encoder(model, pooling, trust_pickle, backend="torch")
    export_onnx(encoder, out, int8=quantize == "int8", overwrite=overwrite)
    meta = read_meta(out) or {}
    if json_out:
        emit_json(meta)
    typer.echo(
        f"exported {model} to {out} (fp32 max abs diff to torch "
        f"{meta.get('fp32_max_abs_diff', float('nan')):.1e}"
        + (f", int8 mean cosine {meta['int8_mean_cos']:.4f}" if "int8_mean_cos" in meta else "")
        + f"; default backend {meta.get('default_backend')})",
        err=True,
    )
