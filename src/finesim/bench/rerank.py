"""``finesim bench rerank``: cross-encoders trained by finesim, beside sentence-transformers.

- ``stsb``: the ``cross-sts`` recipe (one logit, binary cross-entropy against gold / 5) on
  STS-B train, and sentence-transformers' own ``CrossEncoderTrainer`` with
  ``BinaryCrossEntropyLoss`` on the same pairs with score / 5 (its STS-B example), side by
  side in one run. Both start from one folder: ``model``'s transformer with a fresh head drawn
  from ``seed``, saved once and loaded by both. Same batches in the same order
  (``FinesimOrder``), learning rate, warm-up steps, linear decay, weight decay, gradient
  clipping, epochs and seed. Both ``last`` models are
  scored on STS-B test by the same code (``evaluation.cross``), beside the bi-encoder
  ``model`` itself (cosine), with bootstrap intervals and paired differences.
- ``snli``: ``cross-nli`` (three logits, cross-entropy) on SNLI dev; accuracy on SNLI test.
- ``csfcube``: a reranker per fold of CSFCube's two-fold protocol (``bench.rerank_csfcube``).

Nothing is chosen on a test set: no run evaluates during training, ``last`` is scored.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim.bench.cross_runs import finesim_run, initial_folder, warm_up
from finesim.bench.machine import machine_summary

PARTS = ("stsb", "snli", "csfcube")
TIMING = (
    "whole calls on both sides: model load from the initial folder, trainer setup, every step "
    "and one checkpoint (model and optimizer state) written at the end; the training pairs "
    "are in memory before the clock starts, and one untimed forward and backward pass has "
    "warmed torch up. finesim runs first, then sentence-transformers, once each (not "
    "interleaved: on a busy machine, compare with care). steps_per_s = steps / those seconds"
)
SNLI_TIMING = (
    "the whole train call: model load, setup, every step and the final checkpoint; "
    "steps_per_s = steps / those seconds"
)
KNOWN_DIFFERENCES = [
    "dropout masks: each trainer draws its own from torch's generator (the batches are the "
    "same: sentence-transformers' trainer gets finesim's order through FinesimOrder)",
    "warm-up: the learning rate of step s (from 0) is (s + 1) / W of the peak in finesim, "
    "s / W in the Hugging Face schedule (its first step has learning rate 0)",
]


class FinesimOrder:
    """A batch sampler for sentence-transformers' trainer (``batch_sampler=FinesimOrder``)
    that yields finesim's batches: epoch e is ``torch.randperm`` of the examples from a
    generator seeded with ``seed + e``, cut in order, as finesim's trainer does. Both trainers
    then see the same batches in the same order, and differ by what they do with them."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool = False,
        valid_label_columns: Any = None,
        generator: Any = None,
        seed: int = 0,
    ) -> None:
        self.size, self.batch_size, self.drop_last = len(dataset), batch_size, drop_last
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        full, rest = divmod(self.size, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[list[int]]:
        import torch

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield order[start : start + self.batch_size].tolist()


def _st_run(
    start: Path, examples: list[Any], plan: dict[str, Any], out: Path, tmp: Path
) -> dict[str, Any]:
    """sentence-transformers' CrossEncoderTrainer with BinaryCrossEntropyLoss on score / 5,
    timed as ``finesim_run`` (``TIMING``); the final model saved to ``out`` after the clock."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    data = Dataset.from_dict(
        {
            "sentence1": [e.texts["anchor"] for e in examples],
            "sentence2": [e.texts["positive"] for e in examples],
            "label": [float(e.label) / plan["max_score"] for e in examples],
        }
    )
    cuda = torch.cuda.is_available()
    started = time.perf_counter()
    model = CrossEncoder(str(start), device="cuda" if cuda else "cpu")
    args = CrossEncoderTrainingArguments(
        output_dir=str(tmp),
        num_train_epochs=plan["epochs"],
        max_steps=plan["max_steps"] or -1,
        per_device_train_batch_size=plan["batch_size"],
        learning_rate=plan["lr"],
        warmup_steps=plan["warmup_steps"],
        lr_scheduler_type="linear",
        weight_decay=plan["weight_decay"],
        max_grad_norm=plan["max_grad_norm"],
        seed=plan["seed"],
        save_strategy="steps",
        save_steps=plan["steps"],  # one checkpoint, at the last step (finesim's last/)
        logging_strategy="no",
        report_to="none",
        dataloader_num_workers=0,
        batch_sampler=FinesimOrder,  # type: ignore[arg-type]  # its interface, no subclass
        use_cpu=not cuda,
        disable_tqdm=True,
    )
    trainer = CrossEncoderTrainer(
        model=model, args=args, train_dataset=data, loss=BinaryCrossEntropyLoss(model)
    )
    with contextlib.redirect_stdout(io.StringIO()):  # the trainer prints its metrics
        result = trainer.train()
    seconds = time.perf_counter() - started
    model.save_pretrained(str(out))
    return {
        "trainer": "sentence_transformers.cross_encoder.CrossEncoderTrainer",
        "loss": "BinaryCrossEntropyLoss (score / 5)",
        "steps": int(result.global_step),
        "seconds": seconds,
        "steps_per_s": result.global_step / seconds,
        "train_loss": float(result.training_loss),
    }


def _public(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k not in ("gold", "predicted", "correct")}


def _bi_encoder(model: str) -> dict[str, Any]:
    """The bi-encoder ``model`` on STS-B test: cosine Spearman (finesim's STS evaluator)."""
    from finesim.evaluation.sts import evaluate_sts
    from finesim.models.encoder import Encoder

    result = evaluate_sts(Encoder(model), "stsb", "test", cache=False)
    task = result["tasks"]["stsb"]
    return {
        "model": model,
        "scores": "cosine of the two sentence vectors",
        "spearman": task["spearman"],
        "pearson": task["pearson"],
        "ci95": task.get("ci95"),
        "n": task["n"],
        "predicted": result["per_pair"]["stsb"]["cosine"],
    }


def _plan(examples: int, batch_size: int, epochs: int, max_steps: int) -> dict[str, Any]:
    """The settings both STS-B runs get, with the steps they come to (one process)."""
    steps = math.ceil(examples / batch_size) * epochs
    if max_steps:
        steps = min(steps, max_steps)
    return {
        "batch_size": batch_size,
        "epochs": epochs,
        "max_steps": max_steps,
        "steps": steps,
        "lr": 2e-5,
        "warmup_steps": int(0.1 * steps),
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "seed": 42,
        "max_score": 5.0,
    }


def bench_stsb(
    model: str = "minilm", epochs: int = 4, max_steps: int = 0, batch_size: int = 16
) -> dict[str, Any]:
    """finesim's cross-sts against sentence-transformers' CrossEncoderTrainer on STS-B."""
    import numpy as np

    from finesim.data.pairs import sts_scored
    from finesim.evaluation import stats
    from finesim.evaluation.cross import sts_figures
    from finesim.models.cross_encoder import CrossEncoder

    machine = machine_summary()  # before the runs load the machine
    started = time.time()
    examples = sts_scored("stsb", "train")
    plan = _plan(len(examples), batch_size, epochs, max_steps)
    settings = [
        f"{key}={plan[key]}"
        for key in ("batch_size", "epochs", "lr", "warmup_steps", "weight_decay", "seed")
    ]
    settings += [
        f"max_grad_norm={plan['max_grad_norm']}",
        f"max_steps={max_steps}",
        "evaluator=''",
        "checkpoint_every=0",
        "log_every=1000000",
    ]
    with tempfile.TemporaryDirectory(prefix="finesim-rerank-") as tmp:
        root = Path(tmp)
        start = initial_folder(model, 1, plan["seed"], root / "initial")
        warm_up(start, examples, batch_size)
        ours = finesim_run("cross-sts", start, examples, settings, root / "finesim")
        theirs = _st_run(start, examples, plan, root / "st", root / "st-checkpoints")
        figures = {
            "finesim": sts_figures(CrossEncoder(root / "finesim" / "last"), "stsb", "test"),
            "st": sts_figures(CrossEncoder(root / "st"), "stsb", "test"),
        }
    bi = _bi_encoder(model)
    gold = np.asarray(figures["finesim"]["gold"])
    pred = {name: np.asarray(f["predicted"]) for name, f in figures.items()}
    pred["bi"] = np.asarray(bi["predicted"])
    comparisons = {
        f"{a}_minus_{b}": stats.correlation_comparison(gold, pred[a], pred[b])
        for a, b in (("finesim", "st"), ("finesim", "bi"), ("st", "bi"))
    }
    gap = comparisons["finesim_minus_st"]
    return {
        "part": "stsb",
        "model": model,
        "task": "STS-B test, Spearman x100 of the pair scores (bi-encoder: of cosine)",
        "initial": f"{model}'s transformer with a fresh 1-logit head drawn with seed "
        f"{plan['seed']}, saved once; both trainers load that folder",
        "train": {"data": "STS-B train (raw)", "pairs": len(examples)},
        "plan": plan,
        "loss": "binary cross-entropy with logits against gold / 5 on both sides",
        "finesim": {**ours, "test": _public(figures["finesim"])},
        "sentence_transformers": {**theirs, "test": _public(figures["st"])},
        "bi_encoder": _public(bi),
        "comparisons": comparisons,
        "target": {
            "what": "finesim's test Spearman within 0.5 of sentence-transformers'",
            "difference": gap["difference"],
            "ci95": gap["ci95"],
            "reached": abs(gap["difference"]) <= 0.5,
        },
        "steps_per_s": {
            "finesim": ours["steps_per_s"],
            "sentence_transformers": theirs["steps_per_s"],
        },
        "timing": TIMING,
        "known_differences": KNOWN_DIFFERENCES,
        "ci95_method": stats.INTERVAL_METHOD,
        "test_method": stats.TEST_METHOD,
        "seconds": time.time() - started,
        "machine": machine,
    }


def bench_snli(
    model: str = "minilm",
    epochs: int = 4,
    max_steps: int = 0,
    batch_size: int = 16,
    test_limit: int | None = None,
) -> dict[str, Any]:
    """cross-nli on SNLI dev, accuracy on SNLI test (``test_limit``: a seeded subset)."""
    from finesim.data.pairs import nli_labelled
    from finesim.evaluation.cross import nli_figures
    from finesim.evaluation.stats import RESAMPLES
    from finesim.models.cross_encoder import CrossEncoder

    machine = machine_summary()
    started = time.time()
    examples = nli_labelled("dev")
    settings = [
        f"epochs={epochs}",
        f"max_steps={max_steps}",
        f"batch_size={batch_size}",
        "evaluator=''",
        "checkpoint_every=0",
        "log_every=1000000",
    ]
    with tempfile.TemporaryDirectory(prefix="finesim-rerank-") as tmp:
        root = Path(tmp)
        start = initial_folder(model, 3, 42, root / "initial")
        warm_up(start, examples, batch_size)
        run = finesim_run("cross-nli", start, examples, settings, root / "finesim")
        test = nli_figures(CrossEncoder(root / "finesim" / "last"), "test", test_limit)
    return {
        "part": "snli",
        "model": model,
        "task": "SNLI test accuracy x100 (entailment / neutral / contradiction, arg-max)",
        "train": {"data": "SNLI dev (the data folder's SentEval files)", "pairs": len(examples)},
        "finesim": {**run, "test": _public(test)},
        "test_limit": test_limit,
        "ci95_method": f"95% percentile bootstrap over the test pairs ({RESAMPLES:,} "
        "resamples, seed 0)",
        "timing": SNLI_TIMING,
        "seconds": time.time() - started,
        "machine": machine,
    }


def run_rerank_bench(
    model: str,
    parts: Sequence[str],
    epochs: int = 4,
    max_steps: int = 0,
    batch_size: int = 16,
    test_limit: int | None = None,
) -> dict[str, Any]:
    """The chosen ``parts`` (of ``PARTS``); one part's result alone, several under their names."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise FinesimError(f"--part {','.join(parts)}: use stsb, snli, csfcube or all")
    result: dict[str, Any] = {}
    if "stsb" in parts:
        result["stsb"] = bench_stsb(model, epochs, max_steps, batch_size)
    if "snli" in parts:
        result["snli"] = bench_snli(model, epochs, max_steps, batch_size, test_limit)
    if "csfcube" in parts:
        from finesim.bench.rerank_csfcube import bench_csfcube

        result["csfcube"] = bench_csfcube(model, epochs, max_steps, batch_size)
    return result[parts[0]] if len(parts) == 1 else result
