"""What ``finesim bench static`` concludes: paired tests against model2vec, the issue's two
goals, and the Markdown table written beside the JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from finesim.evaluation import stats

SPEED_GOAL = 100.0  # static sentences/s at least this many times sentence-transformers'
FINESIM_STATIC = ("finesim-static", "finesim-static-trained")
REFERENCE = "model2vec"


def compare(full: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each finesim static model minus model2vec on the same STS sentence pairs (Spearman,
    paired bootstrap and randomisation test per task) and CSFCube queries (MAP, NDCG%20)."""
    from finesim.evaluation.csfcube import paired

    out: dict[str, Any] = {}
    if REFERENCE not in full:
        return out
    ref = full[REFERENCE]
    for name in FINESIM_STATIC:
        if name not in full:
            continue
        ours = full[name]
        sts = {}
        for task, pairs in ours["sts"]["per_pair"].items():
            theirs = ref["sts"]["per_pair"].get(task)
            if theirs is None or theirs["gold"] != pairs["gold"]:
                continue
            test = stats.correlation_comparison(pairs["gold"], pairs["cosine"], theirs["cosine"])
            sts[task] = {k: test[k] for k in ("difference", "ci95", "p_value", "n")}
        cube = paired(
            ours["csfcube"]["per_query"], ref["csfcube"]["per_query"], ours["csfcube"]["folds"]
        )
        out[f"{name} - {REFERENCE}"] = {"sts_spearman": sts, "csfcube_abstract": cube["all"]}
    if out:
        out["method"] = stats.TEST_METHOD
    return out


def goals(result: Mapping[str, Any]) -> dict[str, Any]:
    """The issue's goals, checked on the figures at hand (None where a figure is missing):
    static sentences/s >= 100x sentence-transformers', finesim's quality >= model2vec's."""
    systems = result["systems"]
    out: dict[str, Any] = {}
    base = systems.get("sentence-transformers", {}).get("speed", {})
    for name in (*FINESIM_STATIC, "st-static", REFERENCE):
        speed = systems.get(name, {}).get("speed", {})
        for texts, figures in speed.items():
            if texts in base:
                ratio = figures["per_s"] / base[texts]["per_s"]
                figures["vs_sentence_transformers"] = round(ratio, 1)
                out.setdefault("speedup_vs_sentence_transformers", {}).setdefault(name, {})[
                    texts
                ] = {"ratio": round(ratio, 1), "goal_met": ratio >= SPEED_GOAL}
    ref = systems.get(REFERENCE, {}).get("quality")
    for name in FINESIM_STATIC:
        ours = systems.get(name, {}).get("quality")
        if ref is None or ours is None:
            continue
        out.setdefault("quality_vs_model2vec", {})[name] = {
            "sts_avg_spearman": ours["sts_avg_spearman"] >= ref["sts_avg_spearman"],
            "csfcube_map": ours["csfcube_abstract"]["map"] >= ref["csfcube_abstract"]["map"],
            "csfcube_ndcg%20": ours["csfcube_abstract"]["ndcg%20"]
            >= ref["csfcube_abstract"]["ndcg%20"],
        }
    return out


def _interval(value: float | None, ci: Any) -> str:
    if value is None:
        return "-"
    return stats.with_interval(value, ci if isinstance(ci, list) else None)


def markdown(result: Mapping[str, Any]) -> str:
    """One row per system: sentences/s per text set, STS average, CSFCube MAP / NDCG%20
    (95% intervals), size on disk."""
    texts = sorted({t for s in result["systems"].values() for t in s.get("speed", {})})
    head = ["system", *[f"{t} sent/s" for t in texts], "STS avg", "CSFCube MAP"]
    head += ["CSFCube NDCG%20", "MB"]
    lines = [
        f"# finesim bench static: teacher {result['model']}, dim {result['dim']}",
        "",
        f"torch threads {result['torch_threads']}, {result['timing']} "
        f"({result['reps']} reps); CPU {result['machine']['cpu']}."
        if texts
        else "Quality only: no speed measured.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, system in result["systems"].items():
        row = [name]
        for t in texts:
            speed = system.get("speed", {}).get(t)
            row.append("-" if speed is None else f"{speed['per_s']:,.0f}")
        q = system.get("quality") or {}
        cube = q.get("csfcube_abstract") or {}
        ci = cube.get("ci95") or {}
        row.append(_interval(q.get("sts_avg_spearman"), q.get("sts_avg_ci95")))
        row.append(_interval(cube.get("map"), ci.get("map")))
        row.append(_interval(cube.get("ndcg%20"), ci.get("ndcg%20")))
        row.append(f"{system['size_mb']:.1f}")
        lines.append("| " + " | ".join(row) + " |")
    for pair, test in result.get("comparisons", {}).items():
        if pair == "method":
            continue
        cube = test["csfcube_abstract"]
        lines += ["", f"{pair}: CSFCube MAP {stats.difference_text(cube['map'])}"]
        for task, t in test["sts_spearman"].items():
            lines.append(f"- STS {task} Spearman {stats.difference_text(t)}")
    return "\n".join(lines) + "\n"
