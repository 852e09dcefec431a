"""Results side by side with their uncertainty: what ``finesim report compare`` prints and
stores. Each result's figures get their 95% intervals (recomputed from its per-query or
per-pair figures, so results written before intervals existed get them too), and every later
result is compared with every earlier one of the same kind, paired over the queries (or
sentence pairs) both hold (``finesim.evaluation.stats``).

A CSFCube result says which folds its figures average (``folds``; older results: both test
folds, or fold1_dev for ``dev``); two results are compared on the folds they share, so a
figure reported on fold 2's test only is never compared on queries it was fitted on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from finesim._util.errors import FinesimError
from finesim.evaluation import stats

GROUPS = ("background", "method", "result", "all")
BEIR_METRICS = ("ndcg@10", "map@100", "recall@100", "mrr@10")


def kind(result: dict[str, Any]) -> str:
    """``sts``, ``csfcube`` or ``beir``, from the keys of a result."""
    if "tasks" in result:
        return "sts"
    if "all" in result and "per_query" in result:
        return "csfcube"
    if "ndcg@10" in result:
        return "beir"
    raise FinesimError("not a finesim evaluation result (no STS, CSFCube or BEIR figures)")


def result_folds(result: Mapping[str, Any]) -> list[str]:
    """The CSFCube folds whose means a result's figures average."""
    from finesim.evaluation.csfcube import split_folds

    if "folds" in result:
        return list(result["folds"])
    return split_folds("dev" if result.get("split") == "dev" else "test")


def _csfcube_run(name: str, result: Mapping[str, Any]) -> dict[str, Any]:
    from finesim.evaluation.csfcube import intervals

    folds = result_folds(result)
    try:
        ci = intervals(result["per_query"], folds)
    except KeyError as e:
        raise FinesimError(f"{name}: no per-query figures for {e} (needed for {folds})") from None
    figures = {g: {m: result[g][m] for m in ("map", "ndcg%20")} for g in GROUPS}
    return {"folds": folds, "figures": figures, "ci95": ci}


def _sts_run(name: str, result: Mapping[str, Any]) -> dict[str, Any]:
    del name
    figures, ci = {}, {}
    per_pair = result.get("per_pair", {})
    for task, r in result["tasks"].items():
        figures[task] = {"spearman": r["spearman"], "pearson": r["pearson"]}
        if "ci95" in r:
            ci[task] = r["ci95"]
        elif task in per_pair:
            dist = stats.correlation_bootstrap(per_pair[task]["gold"], per_pair[task]["cosine"])
            if dist is not None:
                spearman_ci, pearson_ci = stats.percentile_interval(dist)
                ci[task] = {"spearman": spearman_ci, "pearson": pearson_ci}
    figures["avg"] = dict(result["avg"])
    if "ci95" in result:
        ci["avg"] = result["ci95"]["avg"]
    return {"figures": figures, "ci95": ci}


def _beir_run(name: str, result: Mapping[str, Any]) -> dict[str, Any]:
    del name
    figures = {m: result[m] for m in BEIR_METRICS}
    return {"figures": figures, "ci95": dict(result.get("ci95", {}))}


def _csfcube_pair(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``b`` minus ``a`` on the folds both report."""
    from finesim.evaluation.csfcube import paired

    folds = [f for f in b["run"]["folds"] if f in a["run"]["folds"]]
    out: dict[str, Any] = {"folds": folds}
    if not folds:
        out["note"] = "no fold in common: no paired test"
        return out
    if folds != a["run"]["folds"] or folds != b["run"]["folds"]:
        out["note"] = f"compared on {' + '.join(folds)} only: the queries both report"
    try:
        out["b_minus_a"] = paired(b["result"]["per_query"], a["result"]["per_query"], folds)
    except KeyError as e:
        raise FinesimError(f"{b['file']} or {a['file']}: no per-query figures for {e}") from None
    out["queries"] = out["b_minus_a"]["all"]["map"]["n"]
    return out


def _sts_pair(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``b`` minus ``a``: Spearman, paired over the sentence pairs of each task both hold."""
    left, right = a["result"].get("per_pair", {}), b["result"].get("per_pair", {})
    out: dict[str, Any] = {"b_minus_a": {}}
    skipped = []
    for task in b["result"]["tasks"]:
        if task not in left or task not in right or left[task]["gold"] != right[task]["gold"]:
            skipped.append(task)
            continue
        gold = right[task]["gold"]
        test = stats.correlation_comparison(gold, right[task]["cosine"], left[task]["cosine"])
        out["b_minus_a"][task] = {"spearman": test}
    if skipped:
        out["note"] = (
            f"no paired test for {', '.join(skipped)}: not the same sentence pairs in both, or "
            "no per-pair figures (results from before finesim kept them: rerun finesim eval sts)"
        )
    return out


RUNS = {"csfcube": _csfcube_run, "sts": _sts_run, "beir": _beir_run}


def compare_results(named: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """``{"runs": [...], "comparisons": [...]}`` for results named (e.g. by their file): each
    run's figures and intervals, and each later run minus each earlier one of its kind."""
    entries = []
    for name, result in named:
        k = kind(result)
        run = {"file": name, "kind": k, "model": result.get("model", "?")}
        run.update(scoring=result.get("scoring", ""), split=result.get("split", ""))
        run.update(RUNS[k](name, result))
        entries.append({"file": name, "kind": k, "run": run, "result": result})
    comparisons = []
    for j, b in enumerate(entries):
        for a in entries[:j]:
            if a["kind"] != b["kind"]:
                continue
            pair: dict[str, Any] = {"kind": b["kind"], "a": a["file"], "b": b["file"]}
            if b["kind"] == "csfcube":
                pair.update(_csfcube_pair(a, b))
            elif b["kind"] == "sts":
                pair.update(_sts_pair(a, b))
            else:
                pair["note"] = "BEIR results keep no per-query figures: no paired test"
            comparisons.append(pair)
    return {
        "runs": [e["run"] for e in entries],
        "comparisons": comparisons,
        "ci95_method": stats.INTERVAL_METHOD,
        "test_method": stats.TEST_METHOD,
    }


def _run_line(run: Mapping[str, Any]) -> str:
    ci = run["ci95"]
    if run["kind"] == "csfcube":
        figures = ", ".join(
            f"{m.upper() if m == 'map' else 'NDCG%20'} "
            f"{stats.with_interval(run['figures']['all'][m], ci['all'][m])}"
            for m in ("map", "ndcg%20")
        )
        where = " + ".join(run["folds"])
        return f"{run['file']} ({run['model']} {run['scoring']}; {where}): all {figures}"
    if run["kind"] == "sts":
        avg = run["figures"]["avg"]["spearman"]
        interval = ci.get("avg", {}).get("spearman")
        return f"{run['file']} ({run['model']}): avg Spearman {stats.with_interval(avg, interval)}"
    figures = ", ".join(
        f"{m} {stats.with_interval(v, ci.get(m))}" for m, v in run["figures"].items()
    )
    return f"{run['file']} ({run['model']}): {figures}"


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """``compare_results``'s summary as text: the runs, then each paired comparison."""
    lines = [_run_line(run) for run in summary["runs"]]
    for pair in summary["comparisons"]:
        head = f"{pair['b']} minus {pair['a']}"
        if pair["kind"] == "csfcube" and "b_minus_a" in pair:
            where = " + ".join(pair["folds"])
            lines.append(f"{head}, paired over the same {pair['queries']} queries ({where}):")
            for g, tests in pair["b_minus_a"].items():
                cells = "   ".join(
                    f"{'MAP' if m == 'map' else 'NDCG%20'} {stats.difference_text(t)}"
                    for m, t in tests.items()
                )
                lines.append(f"  {g:<10}  {cells}")
        elif pair["kind"] == "sts" and pair.get("b_minus_a"):
            lines.append(f"{head}, Spearman paired over each task's sentence pairs:")
            for task, tests in pair["b_minus_a"].items():
                lines.append(f"  {task:<8}  {stats.difference_text(tests['spearman'])}")
        else:
            lines.append(f"{head}:")
        if pair.get("note"):
            lines.append(f"  ({pair['note']})")
    if summary["comparisons"]:
        lines.append(f"(intervals: {summary['ci95_method']}; test: {summary['test_method']})")
    return lines
