"""Typer option declarations shared by the ``finesim`` commands, so each is written once.

Every command module imports its common options from here; an option whose help or limits
are particular to one command stays declared in that command. ``--engine/--address/--workers``
are checked here and turned into :class:`finesim.engine.options.RayOptions`. Only ``typer`` and
plain finesim modules are imported: the ``finesim`` start-up must stay cheap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from finesim._util.errors import FinesimError
from finesim.engine.options import ENGINES, RayOptions

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

# How the model is loaded (see ``finesim.cli.common.load_encoder``).
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
# Matryoshka models: vectors cut to their first N components (``Encoder(truncate_dim=)``).
TruncateDimOpt = Annotated[
    int | None, typer.Option(min=1, help="Keep the first N components (Matryoshka).")
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        help="torch, onnx, onnx-int8 or openvino (default: an exported folder's own, else torch)."
    ),
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

# The rerank stage of search: a cross-encoder reorders the first stage's best hits.
RerankOpt = Annotated[
    str | None,
    typer.Option(
        "--rerank",
        help="A cross-encoder (folder or name) that reorders the best --rerank-top hits.",
    ),
]
RerankTopOpt = Annotated[
    int | None,
    typer.Option(
        "--rerank-top",
        min=0,
        help="Hits the cross-encoder reorders (default 100; with a hybrid preset that weighs "
        "the term rerank, 0).",
    ),
]
# The logistic-regression heads (facet tagger, classifier).
InverseL2Opt = Annotated[float, typer.Option("--c", help="Inverse L2 penalty.", min=1e-6)]


def output_file(value: Path | None) -> Path | None:
    """Check an output file option (``--json PATH``) before any work: a file path (``-`` is
    stdout) in an existing, writable folder; otherwise click's usage error naming the option."""
    if value is None or str(value) == "-":
        return value
    if value.is_dir():
        raise typer.BadParameter(f"{value} is a folder; give a file path")
    folder = value.parent
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder}: no such folder")
    if not os.access(folder, os.W_OK):
        raise typer.BadParameter(f"{folder}: folder is not writable")
    return value


# ``--json`` as a flag (print JSON instead of text) or as a path (benchmarks: also write it).
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
JsonPathOpt = Annotated[
    Path | None, typer.Option("--json", help="Also write the JSON here.", callback=output_file)
]


# Where ``encode`` and ``index build`` run (``ray_options`` checks the three together).
EngineOpt = Annotated[
    str, typer.Option(help="local (this process) or ray (an actor pool on a Ray cluster).")
]
AddressOpt = Annotated[
    str | None,
    typer.Option(help="Ray cluster to join (auto or HOST:PORT); default: start a local Ray."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Encoder actors for --engine ray (default: one per CPU)."),
]

# ``serve`` and ``bench serve``: the encoder's torch threads.
ThreadsOpt = Annotated[
    int,
    typer.Option(
        min=0,
        help="torch threads for the encoder (0: torch's default). One is fastest for the small "
        "batches of a server on a busy machine: measured 26 ms a sentence vs 765 ms with two.",
    ),
]


def ray_options(engine: str, address: str | None, workers: int | None) -> RayOptions | None:
    """The Ray settings for ``--engine ray``, None for local; fail on options that mix them."""
    if engine not in ENGINES:
        raise FinesimError(f"--engine {engine!r}: choose local or ray")
    if engine == "local":
        if address is not None or workers is not None:
            raise FinesimError("--address and --workers need --engine ray")
        return None
    return RayOptions(address=address, workers=workers)


# Prompts and routes (sentence-transformers' prompts, default_prompt_name and Router).
PromptNameOpt = Annotated[
    str | None, typer.Option(help="Prepend the model's prompt of this name (its 'prompts').")
]
PromptOpt = Annotated[str | None, typer.Option(help="Prepend this text (beats --prompt-name).")]
AsOpt = Annotated[
    str | None,
    typer.Option(
        "--as", help="query or document: that prompt and route, as encode_query/encode_document."
    ),
]


def prompting(
    encoder: Any, prompt_name: str | None, prompt: str | None, as_: str | None
) -> dict[str, Any]:
    """``encode`` keywords for --prompt-name, --prompt and --as, checked before any work."""
    if as_ is not None and as_ not in ("query", "document"):
        raise FinesimError(f"--as {as_!r}: choose query or document")
    if as_ is not None and prompt_name is None and prompt is None and as_ in encoder.prompts:
        prompt_name = as_
    options = {"prompt_name": prompt_name, "prompt": prompt, "task": as_}
    encoder.encode([], **options)  # an unknown prompt name or route fails here, not mid-file
    return options
