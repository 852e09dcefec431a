"""Ablation on CSFCube: from the plain abstract cosine through each component added in turn.

Why: a fused score hides which part helps. Each row allows one more component (whitening,
then each fusion term) and lets ``--cv`` choose among the settings that use only the allowed
components, on each fold's dev queries, reported on its test queries; a last row fits the
weights of all terms on the dev queries' judged pairs instead (``--cv --learn``). A grid row
can only match or beat the one before it on dev, not necessarily on test; so each row carries
its 95% intervals and a paired test over the same test queries against the row before it and
against the plain abstract cosine (``finesim.evaluation.stats``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from finesim._util.atomic import atomic_path
from finesim.data.csfcube import load_splits
from finesim.evaluation import stats
from finesim.evaluation.csfcube import REPORTED, intervals, paired, score_rankings, split_folds
from finesim.evaluation.csfcube_hybrid import (
    build_tables,
    learned_rankings,
    score_settings,
)
from finesim.fusion.cv import cross_validate
from finesim.fusion.grid import standard_grid
from finesim.fusion.preset import Preset
from finesim.fusion.terms import TERMS
from finesim.models.encoder import Encoder

GROUPS = ("background", "method", "result", "all")

# (row label, terms allowed, whitening allowed), cumulative
STEPS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("abstract cosine (plain)", ("abstract",), False),
    ("+ whitening", ("abstract",), True),
    ("+ facet-mean", ("abstract", "facet-mean"), True),
    ("+ title", ("abstract", "facet-mean", "title"), True),
    ("+ facet-text", ("abstract", "facet-mean", "title", "facet-text"), True),
    ("+ bm25", ("abstract", "facet-mean", "title", "facet-text", "bm25"), True),
    ("+ bm25-facet", ("abstract", "facet-mean", "title", "facet-text", "bm25", "bm25-facet"), True),
    ("+ sentence scorers", TERMS, True),
)
# the last row: all terms, weights fitted on each fold's dev pairs instead of a grid choice
LEARNED_STEP = "learned fusion (all terms)"


def _allowed(grid: Mapping[str, Preset], terms: Sequence[str]) -> dict[str, Preset]:
    return {n: p for n, p in grid.items() if set(p.terms) <= set(terms)}


def _test_figures(
    per_query: Mapping[str, Mapping[str, Mapping[str, float]]],
    chosen: Mapping[str, str],
    splits: Mapping[str, Mapping[str, Sequence[str]]],
) -> dict[str, dict[str, float]]:
    """The reported per-query figures of each fold's test queries under that fold's choice."""
    return {
        key: {m: per_query[config][key][m] for m in REPORTED}
        for fold, config in chosen.items()
        for key in splits["all"][f"{fold}_test"]
    }


def _with_tests(rows: list[dict[str, Any]]) -> None:
    """Each row's intervals, and its paired test against the row before it (same model) and
    against the model's first (plain) row, on the same test queries."""
    folds = split_folds("test")
    for i, row in enumerate(rows):
        row["ci95"] = intervals(row["per_query"], folds)
        first = next(r for r in rows if r["model"] == row["model"])
        if row is first:
            continue
        row["vs_previous"] = paired(row["per_query"], rows[i - 1]["per_query"], folds, ["all"])
        row["vs_plain"] = paired(row["per_query"], first["per_query"], folds, ["all"])


def ablation(encoders: Mapping[str, Encoder], batch_size: int = 32) -> list[dict[str, Any]]:
    """Rows of the table: one per (encoder, step), each with its per-fold choices, its test
    queries' figures, intervals and paired tests (``vs_previous``, ``vs_plain``)."""
    grid, splits, rows = standard_grid(), load_splits(), []
    for label, encoder in encoders.items():
        settings: list[int | None | str] = ["off", None, encoder.dim // 3]
        pools, tables = build_tables(encoder, settings, batch_size=batch_size)
        per_query = score_settings(tables, pools, grid)
        for step, terms, whitening in STEPS:
            candidates = {
                f"{white}|{name}": per_query[f"{white}|{name}"]
                for white in tables
                if whitening or white == "off"
                for name in _allowed(grid, terms)
            }
            result = cross_validate(candidates, splits)
            rows.append(
                {
                    "model": label,
                    "step": step,
                    "candidates": len(candidates),
                    "chosen": result["chosen"],
                    **{g: result[g] for g in GROUPS},
                    "per_query": _test_figures(candidates, result["chosen"], splits),
                }
            )
        ranked, fitted = learned_rankings(tables["off"], pools)
        learned = score_rankings(ranked, with_intervals=False)
        rows.append(
            {
                "model": label,
                "step": LEARNED_STEP,
                "candidates": 1,
                "chosen": {fold: json.dumps(f["preset"]["weights"]) for fold, f in fitted.items()},
                **{g: learned[g] for g in GROUPS},
                "per_query": {
                    k: {m: q[m] for m in REPORTED} for k, q in learned["per_query"].items()
                },
            }
        )
    _with_tests(rows)
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The ablation table (MAP / NDCG%20 x100, two-fold test average)."""
    head = "| model | step | " + " | ".join(f"{g} MAP | {g} NDCG%20" for g in GROUPS) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(GROUPS))]
    for r in rows:
        cells = " | ".join(f"{r[g]['map']:.2f} | {r[g]['ndcg%20']:.2f}" for g in GROUPS)
        lines.append(f"| {r['model']} | {r['step']} | {cells} |")
    if any("ci95" in r for r in rows):
        lines += ["", _tests_table(rows)]
    lines.append("")
    lines.append("Chosen per fold (on that fold's dev queries):")
    lines.append("")
    for r in rows:
        lines.append(
            f"- {r['model']} / {r['step']}: fold1 `{r['chosen']['fold1']}`, "
            f"fold2 `{r['chosen']['fold2']}`"
        )
    return "\n".join(lines) + "\n"


def _tests_table(rows: Sequence[dict[str, Any]]) -> str:
    """All facets: each figure's 95% interval and the paired differences (same 50 queries)."""
    metrics = {"map": "MAP", "ndcg%20": "NDCG%20"}
    head = ["model", "step"] + [f"all {n} [95% CI]" for n in metrics.values()]
    head += [f"{n} vs previous row" for n in metrics.values()]
    head += [f"{n} vs plain" for n in metrics.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def test(row: dict[str, Any], against: str, m: str) -> str:
        if against not in row:
            return ""
        return stats.difference_text(row[against]["all"][m])

    for r in rows:
        cells = [stats.with_interval(r["all"][m], r["ci95"]["all"][m]) for m in metrics]
        cells += [test(r, "vs_previous", m) for m in metrics]
        cells += [test(r, "vs_plain", m) for m in metrics]
        lines.append(f"| {r['model']} | {r['step']} | " + " | ".join(cells) + " |")
    lines += ["", f"Intervals: {stats.INTERVAL_METHOD}. Tests: {stats.TEST_METHOD}."]
    return "\n".join(lines)


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """One panel per model: MAP per facet and aggregated, one bar per step (in order)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    models = list(dict.fromkeys(r["model"] for r in rows))
    steps = list(dict.fromkeys(r["step"] for r in rows))
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(len(steps), 1)))
    fig, axes = plt.subplots(
        len(models), 1, figsize=(11, 2.6 * len(models) + 0.9), sharey=True, squeeze=False
    )
    width = 0.8 / max(len(steps), 1)
    x = np.arange(len(GROUPS))
    for ax, model in zip(axes[:, 0], models, strict=True):
        mine = {r["step"]: r for r in rows if r["model"] == model}
        for i, step in enumerate(steps):
            if step in mine:
                values = [mine[step][g]["map"] for g in GROUPS]
                ax.bar(x + i * width, values, width, color=colours[i], label=step)
        ax.set_xticks(x + width * (len(steps) - 1) / 2, GROUPS)
        ax.set_ylabel("MAP")
        ax.set_title(model, fontsize=10, loc="left")
        ax.grid(axis="y", alpha=0.3)
    low = min(r[g]["map"] for r in rows for g in GROUPS)
    axes[0, 0].set_ylim(max(0.0, 5 * np.floor(low / 5) - 5), None)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("CSFCube ablation: two-fold test MAP, settings chosen on dev queries")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write(rows: Sequence[dict[str, Any]], folder: Path, name: str) -> list[Path]:
    """``name.json``, ``name.md`` and ``name.png`` in ``folder``, each written atomically."""
    paths = [folder / f"{name}.json", folder / f"{name}.md", folder / f"{name}.png"]
    with atomic_path(paths[0]) as tmp:
        tmp.write_text(json.dumps(list(rows), indent=2) + "\n", encoding="utf-8")
    with atomic_path(paths[1]) as tmp:
        tmp.write_text(markdown(rows), encoding="utf-8")
    plot(rows, paths[2])
    return paths
