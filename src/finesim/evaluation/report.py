"""HTML reports with matplotlib plots for evaluation results, and side-by-side comparisons.

A report is a folder: ``index.html`` plus one PNG per plot. Results are the JSON dicts that
``finesim eval`` writes (STS, CSFCube or BEIR, recognised by their keys).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.evaluation.compare import kind

GROUPS = ("background", "method", "result", "all")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, folder: Path, name: str) -> str:
    fig.tight_layout()
    with atomic_path(folder / name) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return name


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:.2f}" if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _sts_section(result: dict[str, Any], folder: Path, prefix: str) -> str:
    plt = _pyplot()
    tasks = result["tasks"]
    from finesim.evaluation.stats import with_interval

    def cells(r: dict[str, Any], ci: dict[str, Any]) -> list[str]:
        return [with_interval(r[m], ci.get(m)) for m in ("spearman", "pearson")]

    rows: list[list[object]] = [[t, *cells(r, r.get("ci95", {})), r["n"]] for t, r in tasks.items()]
    rows.append(["avg", *cells(result["avg"], result.get("ci95", {}).get("avg", {})), ""])
    parts = [_table(["task", "Spearman [95% CI]", "Pearson [95% CI]", "pairs"], rows)]
    scatter = result.get("predictions", {})
    if scatter:
        cols = min(4, len(scatter))
        nrows = (len(scatter) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 3 * nrows), squeeze=False)
        for ax, (task, data) in zip(axes.flat, scatter.items(), strict=False):
            ax.scatter(data["gold"], data["cosine"], s=3, alpha=0.3)
            ax.set_title(f"{task}  rho={tasks[task]['spearman']:.1f}", fontsize=9)
            ax.set_xlabel("gold")
            ax.set_ylabel("cosine")
        for ax in list(axes.flat)[len(scatter) :]:
            ax.axis("off")
        name = _save(fig, folder, f"{prefix}sts-scatter.png")
        parts.append(f'<img src="{name}" alt="gold vs cosine per STS task">')
    return "\n".join(parts)


def _csfcube_section(result: dict[str, Any], folder: Path, prefix: str) -> str:
    plt = _pyplot()
    from finesim.evaluation.stats import with_interval

    ci = result.get("ci95", {})
    rows = [
        [g, *(with_interval(result[g][m], ci.get(g, {}).get(m)) for m in ("map", "ndcg%20"))]
        + [result[g]["mrr"]]
        for g in GROUPS
    ]
    parts = [f"<p>{html.escape(str(result.get('split', '')))}</p>"]
    parts.append(_table(["facet", "MAP [95% CI]", "NDCG%20 [95% CI]", "MRR"], rows))
    fig, (bars, spread) = plt.subplots(1, 2, figsize=(10, 3.5))
    x = np.arange(len(GROUPS))
    bars.bar(x - 0.2, [result[g]["map"] for g in GROUPS], 0.4, label="MAP")
    bars.bar(x + 0.2, [result[g]["ndcg%20"] for g in GROUPS], 0.4, label="NDCG%20")
    bars.set_xticks(x, GROUPS)
    bars.legend()
    bars.set_title("per facet")
    per_query = result["per_query"]
    values = [[q["map"] for k, q in per_query.items() if k.endswith("_" + f)] for f in GROUPS[:3]]
    spread.boxplot(values, showmeans=True)
    for i, v in enumerate(values, start=1):
        spread.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, s=8, alpha=0.6)
    spread.set_xticks(range(1, 4), GROUPS[:3])
    spread.set_title("AP per query")
    parts.append(f'<img src="{_save(fig, folder, f"{prefix}csfcube.png")}" alt="CSFCube">')
    return "\n".join(parts)


def _beir_section(result: dict[str, Any]) -> str:
    keys = ["ndcg@10", "map@100", "recall@100", "mrr@10"]
    return _table([*keys, "queries"], [[*(result[k] for k in keys), result.get("n_queries", "")]])


def _title(result: dict[str, Any]) -> str:
    extra = result.get("scoring") or result.get("variant") or result.get("data") or ""
    return f"{kind(result).upper()}: {result.get('model', '?')} {extra}".strip()


def write_report(results: Sequence[dict[str, Any]], folder: Path) -> Path:
    """Write ``folder/index.html`` (and its plots) for one or more results."""
    folder.mkdir(parents=True, exist_ok=True)
    sections = []
    for i, result in enumerate(results):
        prefix = f"{i}-"
        body = {
            "sts": lambda r, p=prefix: _sts_section(r, folder, p),
            "csfcube": lambda r, p=prefix: _csfcube_section(r, folder, p),
            "beir": lambda r, p=prefix: _beir_section(r),
        }[kind(result)](result)
        sections.append(f"<h2>{html.escape(_title(result))}</h2>\n{body}")
    return _write_page(folder, "finesim evaluation", sections)


def _write_page(folder: Path, title: str, sections: Sequence[str]) -> Path:
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}"
        "td{text-align:right}img{max-width:100%}"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{style}</style></head><body><h1>{title}</h1>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    index = folder / "index.html"
    with atomic_path(index) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return index


def primary_figures(result: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of a result, for side-by-side tables."""
    k = kind(result)
    if k == "sts":
        figures = {t: r["spearman"] for t, r in result["tasks"].items()}
        return {**figures, "avg": result["avg"]["spearman"]}
    if k == "csfcube":
        return {f"{g} {m}": result[g][m] for g in GROUPS for m in ("map", "ndcg%20")}
    return {m: result[m] for m in ("ndcg@10", "map@100", "recall@100", "mrr@10")}


def load_result(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FinesimError(f"{path}: no such file") from None
    except (OSError, *JSON_ERRORS) as e:
        raise FinesimError(f"{path}: not a JSON result ({json_problem(e)})") from None
    if not isinstance(data, dict):
        raise FinesimError(f"{path}: not a finesim evaluation result")
    try:
        kind(data)
    except FinesimError as e:
        raise FinesimError(f"{path}: {e}") from None
    return data


def compare(paths: Sequence[Path], folder: Path, summary: dict[str, Any] | None = None) -> Path:
    """A page with the runs side by side: one table and one grouped bar chart per kind, then
    the intervals and paired tests (``summary``: ``compare.compare_results``'s, computed here
    when not given)."""
    from finesim.evaluation.compare import compare_results, summary_lines

    runs = [(p, load_result(p)) for p in paths]
    if summary is None:
        summary = compare_results([(str(p), r) for p, r in runs])
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    sections = []
    for k in ("sts", "csfcube", "beir"):
        same = [(p, r) for p, r in runs if kind(r) == k]
        if not same:
            continue
        figures = [primary_figures(r) for _, r in same]
        metrics = list(dict.fromkeys(m for f in figures for m in f))
        rows = [[m, *(f.get(m, float("nan")) for f in figures)] for m in metrics]
        labels = [f"{p.stem} ({r.get('model', '?')})" for p, r in same]
        table = _table(["", *labels], rows)
        fig, ax = plt.subplots(figsize=(max(6, len(metrics) * 0.9), 3.5))
        width = 0.8 / len(same)
        x = np.arange(len(metrics))
        for i, (label, f) in enumerate(zip(labels, figures, strict=True)):
            ax.bar(x + i * width, [f.get(m, 0.0) for m in metrics], width, label=label)
        ax.set_xticks(x + 0.4 - width / 2, metrics, rotation=30, ha="right")
        ax.legend(fontsize=8)
        image = _save(fig, folder, f"compare-{k}.png")
        sections.append(f"<h2>{k.upper()}</h2>{table}<img src='{image}' alt='{k}'>")
    text = html.escape("\n".join(summary_lines(summary)))
    sections.append(f"<h2>Intervals and paired tests</h2><pre>{text}</pre>")
    return _write_page(folder, "finesim comparison", sections)
