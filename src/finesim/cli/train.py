"""``finesim train``: a recipe, a model, an output folder, and ``--set key=value`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from finesim._util.errors import FinesimError
from finesim.cli.common import emit_json


def train_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (checkpoints, model).")],
    recipe: Annotated[
        str | None,
        typer.Option(
            help="Recipe name (sbert-nli, sbert-sts, simcse-unsup, simcse-sup, aspire-cocite; "
            "cross-encoders: cross-sts, cross-nli, cross-rerank) or a YAML file."
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model name or folder to start from.")
    ] = "minilm",
    data: Annotated[str | None, typer.Option(help="Training data (overrides the recipe).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a setting: key=value.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from out/last after a crash.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Train an encoder or (cross-* recipes) a cross-encoder; killed runs continue exactly
    where they stopped with --resume."""
    from finesim.training import load_config, train

    overrides = list(set_ or [])
    if data is not None:
        overrides.append(f"data={data}")
    config = load_config(recipe, overrides)
    if not config.data:
        raise FinesimError("no training data: pass --data FILE (or a built-in source)")
    summary = train(config, model, out, resume=resume)
    if summary["rank"] != 0:
        return  # under torchrun, only the first process reports
    if json_out:
        emit_json(summary)
    else:
        typer.echo(f"trained {summary['steps']} steps; model in {out / 'last'}", err=True)
