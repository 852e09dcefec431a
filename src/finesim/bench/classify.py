"""``finesim bench classify``: does training the encoder with center loss help classification?

SNLI as a 3-class text classification (entailment / neutral / contradiction; one text per
pair: ``premise [SEP] hypothesis``). ``finesim classify``'s head (logistic regression) is
fitted on SNLI dev and scored on SNLI test, twice: on the frozen encoder, and on the encoder
trained on SNLI dev with the ``classify-center`` recipe. Test rows are never seen by either
training. Accuracy has a 95% bootstrap interval over the test rows, and the two systems are
compared on the same rows (paired bootstrap of the difference, randomisation test).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from finesim.bench.machine import machine_summary
from finesim.data.classes import LabelledTexts
from finesim.data.pairs import NLI_LABELS, nli_labelled
from finesim.evaluation.stats import (
    RESAMPLES,
    difference_text,
    mean_interval,
    paired_test,
    with_interval,
)

NAMES = {float(i): name for name, i in NLI_LABELS.items()}
SEPARATOR = " [SEP] "
INTERVAL_METHOD = (
    f"95% percentile bootstrap of the accuracy over the test rows ({RESAMPLES:,} resamples, seed 0)"
)
TEST_METHOD = (
    "trained minus frozen on the same test rows: paired bootstrap interval of the difference "
    f"in accuracy and a two-sided paired randomisation test ({RESAMPLES:,} resamples, seed 0)"
)


def snli_classes(split: str, limit: int | None = None) -> LabelledTexts:
    """SNLI ``split`` as labelled texts: premise and hypothesis joined by `` [SEP] ``; with
    ``limit``, a seeded random subset of that many rows (the same one every run)."""
    examples = nli_labelled(split)
    if limit is not None and limit < len(examples):
        rows = np.sort(np.random.default_rng(0).permutation(len(examples))[:limit])
        examples = [examples[i] for i in rows]
    return LabelledTexts(
        [e.texts["anchor"] + SEPARATOR + e.texts["positive"] for e in examples],
        [NAMES[float(e.label)] for e in examples],  # type: ignore[arg-type]
    )


def _system(report: dict[str, Any], correct: np.ndarray) -> dict[str, Any]:
    return {
        "accuracy": report["accuracy"],
        "accuracy_ci95": mean_interval([correct]),
        "macro_f1": report["macro_f1"],
        "model": report["model"],
    }


def run_classify_bench(
    model: str = "minilm",
    *,
    epochs: int = 1,
    train_limit: int | None = None,
    test_limit: int | None = None,
    batch_size: int = 32,
    c: float = 4.0,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Frozen ``model`` against ``model`` trained with center loss, on SNLI test; JSON."""
    # heavy (torch): imported here so that `finesim --help` stays fast
    from finesim.models.encoder import Encoder
    from finesim.tasks.classify import fit_and_score
    from finesim.training.classify import RECIPE, train_encoder

    machine = machine_summary()  # before the runs load it
    train, test = snli_classes("dev", train_limit), snli_classes("test", test_limit)
    pairs = ((train.texts, train.labels), (test.texts, test.labels))
    gold = np.array(test.labels, dtype=object)

    started = time.perf_counter()
    _, frozen, frozen_predicted = fit_and_score(Encoder(model), *pairs, c=c, batch_size=batch_size)
    frozen_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        started = time.perf_counter()
        summary = train_encoder(
            model, train, Path(tmp) / "run", overrides=[f"epochs={epochs}"], show_progress=False
        )
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        trained_encoder = Encoder(Path(tmp) / "run" / "last")
        _, trained, trained_predicted = fit_and_score(
            trained_encoder, *pairs, c=c, batch_size=batch_size
        )
        trained_seconds = time.perf_counter() - started
        losses = _logged_losses(Path(tmp) / "run" / "metrics.jsonl")
    right_frozen = (np.array(frozen_predicted, dtype=object) == gold).astype(np.float64)
    right_trained = (np.array(trained_predicted, dtype=object) == gold).astype(np.float64)
    frozen_system, trained_system = _system(frozen, right_frozen), _system(trained, right_trained)
    trained_system["model"] = f"{model} + {RECIPE} ({epochs} epoch(s) on SNLI dev)"
    return {
        "benchmark": "classify",
        "task": "SNLI 3-class (entailment/neutral/contradiction), text = premise [SEP] hypothesis",
        "train": {"split": "snli dev", "rows": len(train.texts), "limit": train_limit},
        "test": {"split": "snli test", "rows": len(test.texts), "limit": test_limit},
        "classifier": f"finesim classify head: logistic regression, C={c}, on dev vectors",
        "recipe": RECIPE,
        "epochs": epochs,
        "steps": summary["steps"],
        "train_loss": {"first": losses[0], "last": losses[-1]} if losses else None,
        "majority_baseline": frozen["majority_baseline"],
        "frozen": frozen_system,
        "trained": trained_system,
        "difference": paired_test([right_trained], [right_frozen]),  # trained minus frozen
        "seconds": {
            "frozen_encode_and_fit": frozen_seconds,
            "train_encoder": train_seconds,
            "trained_encode_and_fit": trained_seconds,
        },
        "interval_method": INTERVAL_METHOD,
        "test_method": TEST_METHOD,
        "machine": machine,
    }


def _logged_losses(path: Path) -> list[float]:
    import json

    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [float(r["loss"]) for r in records if "loss" in r]


def markdown(result: dict[str, Any]) -> str:
    """The result as a short table beside the JSON."""

    def percent(values: list[float] | None) -> list[float] | None:
        return None if values is None else [100 * v for v in values]

    rows = []
    for key in ("frozen", "trained"):
        s = result[key]
        acc = with_interval(100 * s["accuracy"], percent(s["accuracy_ci95"]))
        rows.append(f"| {s['model']} | {acc} | {100 * s['macro_f1']:.2f} |")
    d = result["difference"]
    diff = {**d, "difference": 100 * d["difference"], "ci95": percent(d["ci95"])}
    return "\n".join(
        [
            f"# Classification: {result['task']}",
            "",
            f"Head fitted on {result['train']['split']} ({result['train']['rows']} rows), "
            f"scored on {result['test']['split']} ({result['test']['rows']} rows); "
            f"majority class {100 * result['majority_baseline']:.2f}%.",
            "",
            "| encoder | accuracy % [95% CI] | macro-F1 % |",
            "|---|---|---|",
            *rows,
            "",
            f"Trained minus frozen, in accuracy points: {difference_text(diff)}.",
            "",
            f"Intervals: {result['interval_method']}. Test: {result['test_method']}.",
            "",
        ]
    )
