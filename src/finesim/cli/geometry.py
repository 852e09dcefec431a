"""``finesim eval geometry`` (anisotropy, alignment, uniformity) and ``finesim eval ablation``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from finesim._util.errors import FinesimError
from finesim._util.jsonio import write_json
from finesim.cli.common import load_encoder
from finesim.cli.options import output_file


def geometry_command(
    data: Annotated[str, typer.Option(help="Documents (.jsonl/.jsonl.gz) or 'csfcube'.")],
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Model name or folder, or LABEL=FOLDER; repeat."),
    ] = None,
    whitening: Annotated[
        bool, typer.Option(help="Also show each model whitened on the corpus sample.")
    ] = False,
    sentences: Annotated[int, typer.Option(min=2, help="Random sentences sampled.")] = 2000,
    pairs: Annotated[int, typer.Option(min=1, help="Positive pairs sampled.")] = 1000,
    seed: int = 0,
    plot: Annotated[Path | None, typer.Option(help="Write the plot (PNG) here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the figures here.", callback=output_file)
    ] = None,
) -> None:
    """How spread out a model's vectors are on a corpus (SimCSE's alignment/uniformity)."""
    from finesim.data.corpus import describe, load_corpus
    from finesim.evaluation.geometry import geometry, plot_geometry, sample_texts
    from finesim.models.cache import encode_cached
    from finesim.models.whitening import fit_whitening

    for path in (plot, json_out):
        if path is not None and not path.parent.is_dir():
            raise FinesimError(f"{path.parent}: no such folder for the output")
    docs = load_corpus(data)
    chosen, positives = sample_texts(docs, sentences, pairs, seed)
    rows: dict[str, dict[str, Any]] = {}
    for spec in model or ["minilm"]:
        name, folder = spec.split("=", 1) if "=" in spec else (spec, spec)
        encoder = load_encoder(folder)

        def embed(texts: list[str], enc: Any = encoder) -> Any:
            return encode_cached(enc, texts)

        rows[name] = geometry(embed, chosen, positives)
        if whitening:
            fit_on = chosen + [t for pair in positives for t in pair]
            fit = fit_whitening(embed(fit_on))

            def white(texts: list[str], e: Any = embed, f: Any = fit) -> Any:
                return f.apply(e(texts))

            rows[f"{name} +whitening"] = geometry(white, chosen, positives)
    result = {"data": describe(data, docs), "seed": seed, "models": rows}
    if plot is not None:
        plot_geometry(rows, plot)
    if json_out is not None:
        write_json(json_out, result)
    for name, row in rows.items():
        figures = ", ".join(
            f"{k} {row[k]:.4f}" for k in ("anisotropy", "alignment", "uniformity") if k in row
        )
        typer.echo(f"{name}: {figures}")


def ablation_command(
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", "-m", help="Model name or folder, or LABEL=FOLDER; repeat (plain, adapted)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for NAME.json, NAME.md and NAME.png.")] = Path(
        "."
    ),
    name: Annotated[str, typer.Option(help="Base name of the output files.")] = "ablation",
) -> None:
    """CSFCube ablation: each component added in turn, settings chosen on dev queries."""
    from finesim.evaluation.ablation import ablation, markdown, write

    if not out.is_dir():
        raise FinesimError(f"{out}: no such folder for the ablation report")

    labelled = [m.split("=", 1) if "=" in m else [m, m] for m in model or ["minilm"]]
    rows = ablation({label: load_encoder(path) for label, path in labelled})
    paths = write(rows, out, name)
    typer.echo(markdown(rows))
    typer.echo(f"wrote {', '.join(map(str, paths))}", err=True)
