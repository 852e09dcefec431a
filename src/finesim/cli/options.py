"""Typer option declarations shared by the ``finesim`` commands, so each is written once.

Every command module imports its common options from here; an option whose help or limits
are particular to one command stays declared in that command. ``--engine/--address/--workers``
live in :mod:`finesim.engine.options` with the Ray settings they produce. Only ``typer`` is
imported: the ``finesim`` start-up must stay cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# The model to load (a shipped name or a folder).
ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Model name (minilm, mpnet) or a model folder.")
]
# The model of a command that works on an index: by default the index's own.
IndexModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model name or folder (default: the index's own)."),
]
# ``finesim bench ...``: the result names the model, the option carries no help.
BenchModelOpt = Annotated[str, typer.Option("--model", "-m")]

# How the model is loaded (see ``finesim.cli._load``).
PoolingOpt = Annotated[
    str | None,
    typer.Option(help="Pooling for a plain transformers folder, or to override a model's own."),
]
TrustOpt = Annotated[
    bool,
    typer.Option(
        help="Load pickled weights (pytorch_model.bin) with torch.load(weights_only=True)."
    ),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(help="torch, onnx or onnx-int8 (default: an exported folder's own, else torch)."),
]

# Texts per encoder call; training needs two or more (in-batch negatives).
BatchOpt = Annotated[int, typer.Option(min=1)]
TrainBatchOpt = Annotated[int, typer.Option(min=2)]

# Reading a file of texts (``finesim.data.texts.TextFile``).
FieldOpt = Annotated[str, typer.Option(help="jsonl field or csv/tsv/parquet column of the text.")]
IdFieldOpt = Annotated[
    str | None, typer.Option(help="Field holding ids (default: 0-based record number).")
]

OverwriteOpt = Annotated[bool, typer.Option(help="Replace an existing output.")]
# The logistic-regression heads (facet tagger, classifier).
InverseL2Opt = Annotated[float, typer.Option("--c", help="Inverse L2 penalty.", min=1e-6)]

# ``--json`` as a flag (print JSON instead of text) or as a path (benchmarks: also write it).
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
JsonPathOpt = Annotated[Path | None, typer.Option("--json", help="Also write the JSON here.")]


def bench_group(app: typer.Typer) -> typer.Typer:
    """The ``finesim bench`` group: the one already registered, or a new one."""
    for group in app.registered_groups:
        if group.name == "bench" and group.typer_instance is not None:
            return group.typer_instance
    bench = typer.Typer(help="Benchmarks; each prints JSON.", no_args_is_help=True)
    app.add_typer(bench, name="bench")
    return bench
