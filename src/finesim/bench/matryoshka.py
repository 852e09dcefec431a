"""``finesim bench matryoshka``: what Matryoshka training buys a truncated model, with intervals.

Three models, all evaluated on STS-B test (Spearman x100 of cosine, finesim's STS evaluator,
``Encoder(truncate_dim=d)``), none of them chosen on it:
- ``untrained``: the model as shipped, truncated to each of ``dims``;
- ``matryoshka``: the ``sbert-sts`` recipe for ``epochs`` with ``matryoshka_dims=train_dims``;
- ``control``: the same recipe, epochs and seed without Matryoshka, so the difference is the
  loss and nothing else (same data order, same initial dropout stream).
The trained runs choose no checkpoint (``evaluator=''``): ``last/`` is evaluated. Differences
are paired over the same sentence pairs (``stats.correlation_comparison``: bootstrap 95%
interval, randomisation p-value). The issue's target: the Matryoshka run at the smallest
trained dimension above the untrained model truncated to it.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finesim._util.atomic import atomic_path
from finesim._util.errors import FinesimError
from finesim.bench.machine import machine_summary

RECIPE = "sbert-sts"
TASK, SPLIT = "stsb", "test"
DIMS = (384, 256, 128, 64)
TRAIN_DIMS = (384, 128, 64)


def evaluate_cut(model: str | Path, dims: Sequence[int]) -> dict[str, dict[str, Any]]:
    """STS-B test figures of ``model`` truncated to each of ``dims`` (keys: the dims as text);
    ``gold``/``cosine`` are kept for the paired comparisons and dropped from the JSON.

    Encoded once at full width, then cut: the first d components are what
    ``Encoder(truncate_dim=d)`` returns up to its renormalisation, which cosine ignores
    (tests/bench/test_matryoshka.py checks the two agree). The figures are finesim's STS
    evaluator's (``score_pairs``, its bootstrap interval over the sentence pairs).
    """
    from finesim.data.sts import load_task
    from finesim.evaluation import stats
    from finesim.evaluation.sts import pair_similarities, score_pairs
    from finesim.models.encoder import Encoder

    pairs = load_task(TASK, SPLIT)
    n = len(pairs)
    full = Encoder(model).encode(pairs.sentences1 + pairs.sentences2, batch_size=64)
    out = {}
    for d in dims:
        if not 1 <= d <= full.shape[1]:
            raise FinesimError(f"dimension {d}: must be 1..{full.shape[1]} for {model}")
        first, second = full[:n, :d], full[n:, :d]
        figures = score_pairs(pairs, first, second)
        cosine = pair_similarities(first, second)["cosine"]
        resampled = stats.correlation_bootstrap(pairs.scores, cosine)
        spearman_ci, pearson_ci = (
            stats.percentile_interval(resampled) if resampled is not None else (None, None)
        )
        out[str(d)] = {
            "spearman": figures["spearman"],
            "pearson": figures["pearson"],
            "ci95": {"spearman": spearman_ci, "pearson": pearson_ci},
            "n": n,
            "gold": pairs.scores.tolist(),
            "cosine": cosine.tolist(),
        }
    return out


def _train(
    model: str, matryoshka_dims: Sequence[int], epochs: int, overrides: Sequence[str], out: Path
) -> dict[str, Any]:
    from finesim.training.config import load_config
    from finesim.training.trainer import train

    settings = [f"epochs={epochs}", "evaluator=''", "checkpoint_every=0", *overrides]
    if matryoshka_dims:
        settings.append(f"matryoshka_dims={list(matryoshka_dims)}")
    summary = train(load_config(RECIPE, settings), model, out, show_progress=False)
    return {"settings": settings, "steps": summary["steps"], "seconds": summary["seconds"]}


def _compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``a`` minus ``b`` (Spearman x100) on the same STS-B test pairs."""
    import numpy as np

    from finesim.evaluation import stats

    if a["gold"] != b["gold"]:
        raise ValueError("a paired comparison needs the same sentence pairs")
    return stats.correlation_comparison(
        np.asarray(a["gold"]), np.asarray(a["cosine"]), np.asarray(b["cosine"])
    )


def _public(figures: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d: {k: v for k, v in f.items() if k not in ("gold", "cosine")} for d, f in figures.items()
    }


def run_matryoshka_bench(
    model: str = "minilm",
    dims: Sequence[int] = DIMS,
    train_dims: Sequence[int] = TRAIN_DIMS,
    epochs: int = 1,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """The three models' figures at each dimension, their paired differences and the target."""
    from finesim.evaluation import stats

    if not dims or not train_dims:
        raise FinesimError("--dims and --train-dims need one dimension or more")
    machine = machine_summary()  # before the runs load the machine
    started = time.time()
    untrained = evaluate_cut(model, dims)
    runs: dict[str, dict[str, Any]] = {}
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="finesim-matryoshka-") as tmp:
        for name, with_dims in (("matryoshka", train_dims), ("control", ())):
            out = Path(tmp) / name
            runs[name] = _train(model, with_dims, epochs, overrides, out)
            figures[name] = evaluate_cut(out / "last", train_dims)
    shared = [str(d) for d in train_dims if str(d) in untrained]
    comparisons = {
        "matryoshka_minus_control": {
            str(d): _compare(figures["matryoshka"][str(d)], figures["control"][str(d)])
            for d in train_dims
        },
        "matryoshka_minus_untrained": {
            d: _compare(figures["matryoshka"][d], untrained[d]) for d in shared
        },
        "control_minus_untrained": {
            d: _compare(figures["control"][d], untrained[d]) for d in shared
        },
    }
    smallest = str(min(train_dims))
    target: dict[str, Any] = {
        "what": f"matryoshka run at {smallest} dims above the untrained model truncated to "
        f"{smallest} (STS-B test Spearman)",
        "dim": int(smallest),
    }
    if smallest in untrained:
        test = comparisons["matryoshka_minus_untrained"][smallest]
        target.update(
            matryoshka=figures["matryoshka"][smallest]["spearman"],
            untrained=untrained[smallest]["spearman"],
            difference=test["difference"],
            ci95=test["ci95"],
            p_value=test["p_value"],
            reached=test["difference"] > 0,
            interval_above_zero=bool(test["ci95"] and test["ci95"][0] > 0),
        )
    else:
        target["reached"] = None  # the untrained model was not evaluated at that dimension
    return {
        "model": model,
        "task": f"{TASK} {SPLIT} (Spearman x100 of cosine)",
        "recipe": RECIPE,
        "epochs": epochs,
        "dims": list(dims),
        "train_dims": list(train_dims),
        "untrained": _public(untrained),
        "matryoshka": {**runs["matryoshka"], "eval": _public(figures["matryoshka"])},
        "control": {**runs["control"], "eval": _public(figures["control"])},
        "comparisons": comparisons,
        "target": target,
        "ci95_method": stats.INTERVAL_METHOD,
        "test_method": stats.TEST_METHOD,
        "seconds": time.time() - started,
        "machine": machine,
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as the tables of benchmarks/sts/matryoshka-*.md."""
    from finesim.evaluation.stats import difference_text, with_interval

    def cell(figure: dict[str, Any] | None) -> str:
        if figure is None:
            return "-"
        ci = (figure.get("ci95") or {}).get("spearman")
        return with_interval(figure["spearman"], ci)

    dims = sorted({*map(int, result["untrained"]), *map(int, result["control"]["eval"])})
    lines = [
        f"# Matryoshka training: {result['model']}, {result['task']}",
        "",
        f"`{result['recipe']}` with `--set {' --set '.join(result['matryoshka']['settings'])}` "
        f"({result['matryoshka']['steps']} steps, {result['matryoshka']['seconds']:.0f} s), and "
        "the control: the same settings and seed without `matryoshka_dims` "
        f"({result['control']['steps']} steps, {result['control']['seconds']:.0f} s). `last/` "
        "is evaluated, nothing is chosen on the test set. Brackets: 95% bootstrap intervals "
        "over the sentence pairs.",
        "",
        "| dim | untrained | control | matryoshka | matryoshka - control "
        "| matryoshka - untrained |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    tests = result["comparisons"]
    for d in map(str, sorted(dims, reverse=True)):
        vs_control = tests["matryoshka_minus_control"].get(d)
        vs_untrained = tests["matryoshka_minus_untrained"].get(d)
        lines.append(
            f"| {d} | {cell(result['untrained'].get(d))} | "
            f"{cell(result['control']['eval'].get(d))} | "
            f"{cell(result['matryoshka']['eval'].get(d))} | "
            f"{difference_text(vs_control) if vs_control else '-'} | "
            f"{difference_text(vs_untrained) if vs_untrained else '-'} |"
        )
    target = result["target"]
    verdict = {True: "reached", False: "not reached", None: "not measured"}[target["reached"]]
    lines += ["", f"Target ({target['what']}): **{verdict}**."]
    if target["reached"] is not None:
        lines[-1] += (
            f" {target['matryoshka']:.2f} vs {target['untrained']:.2f}: {difference_text(target)}."
        )
    lines += ["", f"Intervals: {result['ci95_method']}.", f"Tests: {result['test_method']}.", ""]
    return "\n".join(lines)


def write_markdown(result: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(markdown(result), encoding="utf-8")
