"""``finesim eval ...`` and ``finesim report compare`` (``finesim demo``: ``cli/demo.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from finesim._util.errors import FinesimError
from finesim._util.jsonio import write_json
from finesim.cli.common import emit_json, load_encoder
from finesim.cli.geometry import ablation_command, geometry_command
from finesim.cli.options import BatchOpt, ModelOpt, PoolingOpt, output_file

eval_app = typer.Typer(help="Evaluate a model: STS, CSFCube, BEIR.", no_args_is_help=True)
report_app = typer.Typer(help="Reports from evaluation results.", no_args_is_help=True)

JsonOut = Annotated[
    Path | None,
    typer.Option(
        "--json", help="Write the full result as JSON here ('-': stdout).", callback=output_file
    ),
]
ReportOpt = Annotated[
    Path | None, typer.Option("--report", help="Write an HTML report with plots into this folder.")
]
CacheOpt = Annotated[
    bool, typer.Option("--cache/--no-cache", help="Reuse embeddings cached on disk.")
]


def _check_out(path: Path | None) -> None:
    if path is not None and str(path) != "-" and not path.parent.is_dir():
        raise FinesimError(f"{path.parent}: no such folder for the output")


def _write_json(result: dict[str, Any], path: Path | None) -> None:
    """``--json PATH``: the result written there, or printed for ``-``."""
    if path is None:
        return
    if str(path) == "-":
        emit_json(result)
    else:
        write_json(path, result)


def _print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for h in header:
        table.add_column(h, justify="right" if h != header[0] else "left")
    for row in rows:
        table.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row))
    Console().print(table)


def _report(results: list[dict[str, Any]], folder: Path | None) -> None:
    if folder is None:
        return
    from finesim.evaluation.report import write_report

    index = write_report(results, folder)
    typer.echo(f"report: {index}", err=True)


def _sts_rows(result: dict[str, Any]) -> list[list[Any]]:
    from finesim.evaluation.stats import with_interval

    def cells(r: dict[str, Any], ci: dict[str, Any]) -> list[str]:
        return [with_interval(r[m], ci.get(m)) for m in ("spearman", "pearson")]

    rows = [[t, *cells(r, r.get("ci95", {})), r["n"]] for t, r in result["tasks"].items()]
    return [*rows, ["avg", *cells(result["avg"], result.get("ci95", {}).get("avg", {})), ""]]


GROUPS = ("background", "method", "result", "all")


def _csfcube_rows(result: dict[str, Any]) -> list[list[Any]]:
    """Per group: MAP and NDCG%20, each with its 95% interval where the result has one."""
    from finesim.evaluation.stats import with_interval

    ci = result.get("ci95", {})
    return [
        [g, *(with_interval(result[g][m], ci.get(g, {}).get(m)) for m in ("map", "ndcg%20"))]
        for g in GROUPS
    ]


def _paired_rows(comparison: dict[str, Any]) -> list[list[Any]]:
    """Per group: the paired difference of MAP and NDCG%20, interval and p-value."""
    from finesim.evaluation.stats import with_interval

    rows = []
    for g in (g for g in GROUPS if g in comparison):
        for m, name in (("map", "MAP"), ("ndcg%20", "NDCG%20")):
            test = comparison[g][m]
            p = test["p_value"]
            interval = with_interval(test["difference"], test["ci95"], signed=True)
            rows.append([g, name, interval, "< 0.001" if p < 0.001 else f"{p:.3f}"])
    return rows


def _print_csfcube(result: dict[str, Any]) -> None:
    """The figures with their intervals; what was seen; the paired test against the baseline."""
    header = ["facet", "MAP [95% CI]", "NDCG%20 [95% CI]"]
    title = f"CSFCube ({result['split']}): {result['model']} {result['scoring']}"
    _print_table(title, header, _csfcube_rows(result))
    seen = result.get("seen")
    if seen:
        folds = " + ".join(seen["folds"])
        _print_table(
            f"seen, not a test figure ({folds}): {seen['note']}", header, _csfcube_rows(seen)
        )
    if "vs_baseline" in result:
        base = result["baseline"]
        folds = " + ".join(base["folds"])
        _print_table(
            f"minus the plain abstract cosine (nothing fitted; all MAP {base['all']['map']:.2f}"
            f" / NDCG%20 {base['all']['ndcg%20']:.2f}), paired over the same queries ({folds})",
            ["facet", "metric", "difference [95% CI]", "p (randomisation)"],
            _paired_rows(result["vs_baseline"]),
        )


@eval_app.command("sts")
def eval_sts(
    model: ModelOpt = "minilm",
    tasks: Annotated[str, typer.Option(help="Comma-separated tasks, or all.")] = "all",
    split: Annotated[str, typer.Option(help="test, dev or train (STS-B, SICK).")] = "test",
    variant: Annotated[str, typer.Option(help="raw (original text) or senteval.")] = "raw",
    batch_size: BatchOpt = 32,
    cache: CacheOpt = True,
    pooling: PoolingOpt = None,
    json_out: JsonOut = None,
    report: ReportOpt = None,
) -> None:
    """Spearman/Pearson x100 of cosine similarity vs gold (SimCSE's protocol)."""
    from finesim.evaluation.sts import evaluate_sts, parse_tasks

    parse_tasks(tasks)
    _check_out(json_out)
    result = evaluate_sts(
        load_encoder(model, pooling),
        tasks,
        split,
        variant,
        batch_size,
        cache,
        keep_predictions=report is not None,
    )
    _report([result], report)
    result.pop("predictions", None)
    _write_json(result, json_out)
    if str(json_out) != "-":
        _print_table(
            f"STS ({variant}, {split}): {model}",
            ["task", "Spearman [95% CI]", "Pearson [95% CI]", "n"],
            _sts_rows(result),
        )


@eval_app.command("csfcube")
def eval_csfcube(
    model: ModelOpt = "minilm",
    scoring: Annotated[
        str, typer.Option(help="min-l2, max-sim, mean-vec, ot, abstract or hybrid.")
    ] = "min-l2",
    split: Annotated[
        str,
        typer.Option(help="test (two-fold mean), dev (fold1_dev), or one fold: fold1_test, ..."),
    ] = "test",
    preset: Annotated[
        str | None, typer.Option(help="Hybrid preset: a shipped name or a JSON file.")
    ] = None,
    whitening: Annotated[
        str, typer.Option(help="Hybrid: off, all, or k dims fitted on the corpus.")
    ] = "off",
    cv: Annotated[
        bool, typer.Option("--cv", help="Hybrid: choose settings on each fold's dev queries.")
    ] = False,
    learn: Annotated[
        bool,
        typer.Option("--learn", help="With --cv: fit the fusion weights on each fold's dev pairs."),
    ] = False,
    rerank: Annotated[
        str | None,
        typer.Option(
            help="Hybrid: a cross-encoder for the term rerank (weighed by --cv and --learn), "
            "or one per fold: fold1=DIR,fold2=DIR (each trained on its fold's dev queries).",
        ),
    ] = None,
    rankings: Annotated[
        Path | None, typer.Option(help="Score ranking files (sample_ranked_pools layout) instead.")
    ] = None,
    run_file: Annotated[Path | None, typer.Option(help="Write the rankings as a TREC run.")] = None,
    batch_size: BatchOpt = 32,
    cache: CacheOpt = True,
    pooling: PoolingOpt = None,
    json_out: JsonOut = None,
    report: ReportOpt = None,
) -> None:
    """Faceted query-by-example on CSFCube: MAP and NDCG%20 per facet and aggregated."""
    from finesim.evaluation.csfcube import (
        evaluate_csfcube,
        read_ranking_dir,
        score_rankings,
        write_run_file,
    )

    _check_out(json_out)
    _check_out(run_file)
    result: dict[str, Any]
    if learn and not cv:
        raise FinesimError("--learn fits weights on dev queries and reports test: add --cv")
    if rerank is not None and not (cv or scoring == "hybrid"):
        raise FinesimError("--rerank scores the hybrid term rerank: add --scoring hybrid or --cv")
    if cv or scoring == "hybrid":
        from finesim.cli.eval_hybrid import csfcube_hybrid

        args = (preset, whitening, cv, split, batch_size, cache, learn)
        result = csfcube_hybrid(load_encoder(model, pooling), *args, rerank=rerank)
        ranked = result.pop("rankings", None)
    elif rankings is not None:
        ranked = read_ranking_dir(rankings)
        result = {"model": str(rankings), "scoring": "rankings", "split": split}
        result.update(score_rankings(ranked, split))
    else:
        result = evaluate_csfcube(load_encoder(model, pooling), scoring, split, batch_size, cache)
        ranked = result.pop("rankings")
    if run_file is not None and ranked is not None:
        write_run_file(ranked, run_file, f"finesim-{result['scoring']}")
    _report([result], report)
    _write_json(result, json_out)
    if str(json_out) != "-":
        _print_csfcube(result)


@eval_app.command("beir")
def eval_beir(
    data: Annotated[Path, typer.Option(help="A folder in BEIR format.")],
    model: ModelOpt = "minilm",
    split: str = "test",
    scoring: Annotated[str, typer.Option(help="dense, or hybrid (dense + BM25 fused).")] = "dense",
    preset: Annotated[str | None, typer.Option(help="Hybrid preset (name or file).")] = None,
    batch_size: BatchOpt = 32,
    cache: CacheOpt = True,
    pooling: PoolingOpt = None,
    json_out: JsonOut = None,
    report: ReportOpt = None,
) -> None:
    """Exact dense retrieval on a BEIR-format folder: nDCG@10, MAP@100, Recall@100, MRR@10."""
    from finesim.evaluation.retrieval import run_beir

    _check_out(json_out)
    if scoring not in ("dense", "hybrid"):
        raise FinesimError(f"unknown scoring {scoring!r} for BEIR; use dense or hybrid")
    encoder = load_encoder(model, pooling)
    if scoring == "hybrid":
        from finesim.evaluation.beir_hybrid import run_beir_hybrid
        from finesim.fusion.preset import load_preset

        chosen = load_preset(preset)
        result = run_beir_hybrid(encoder, data, chosen, split, batch_size=batch_size, cache=cache)
    else:
        result = run_beir(
            encoder,
            data,
            split,
            batch_size=batch_size,
            cache=cache,
            show_progress=True,
        )
    result = {"model": model, "data": str(data), "split": split, **result}
    _report([result], report)
    _write_json(result, json_out)
    if str(json_out) != "-":
        from finesim.evaluation.stats import with_interval

        keys = ["ndcg@10", "map@100", "recall@100", "mrr@10"]
        ci = result.get("ci95", {})
        _print_table(
            f"BEIR {data.name} ({split}): {model}",
            ["metric", "value [95% CI]"],
            [[k, with_interval(result[k], ci.get(k))] for k in keys]
            + [["queries", result["n_queries"]]],
        )


eval_app.command("geometry")(geometry_command)
eval_app.command("ablation")(ablation_command)


@report_app.command("compare")
def report_compare(
    results: Annotated[list[Path], typer.Argument(help="Result JSON files from finesim eval.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the comparison page.")],
    json_out: JsonOut = None,
) -> None:
    """Put several evaluation runs side by side (tables and bar charts), with each figure's
    95% interval and a paired test of every later run against every earlier one."""
    from finesim.evaluation.compare import compare_results, summary_lines
    from finesim.evaluation.report import compare, load_result

    if not out.parent.is_dir():
        raise FinesimError(f"{out.parent}: no such folder for the report")
    _check_out(json_out)
    summary = compare_results([(str(p), load_result(p)) for p in results])
    _write_json(summary, json_out)
    if str(json_out) != "-":
        typer.echo("\n".join(summary_lines(summary)))
    typer.echo(f"report: {compare(results, out, summary)}", err=str(json_out) == "-")
