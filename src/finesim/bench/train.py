"""``finesim bench train``: does training help, and how fast is it next to sentence-transformers.

Three measurements on one machine, JSON out:
- ``sts``: the sbert-sts recipe for one epoch on STS-B train; STS-B dev Spearman before/after.
- ``simcse``: the simcse-sup recipe on the NLI triples; the 7-task STS table before/after.
- ``throughput``: steps/s of finesim's trainer and of sentence-transformers' own on the same
  model, loss (InfoNCE = MultipleNegativesRankingLoss, scale 20 = 1/0.05), batch size, max
  length and data, interleaved repetitions, medians. Both are timed the same way (``TIMING``).
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim.bench.machine import machine_summary

PARTS = ("sts", "simcse", "throughput")
TIMING = (
    "whole calls on both sides: model load, trainer setup, every step and the final checkpoint "
    "(model and optimizer state) written to disk; the training pairs are in memory before the "
    "clock starts. steps_per_s = steps / those seconds"
)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _table(result: dict[str, Any]) -> dict[str, float]:
    return {t: r["spearman"] for t, r in result["tasks"].items()} | {
        "avg": result["avg"]["spearman"]
    }


def bench_sts(model: str, epochs: int = 1) -> dict[str, Any]:
    # heavy (torch): imported here so that `finesim --help` stays fast
    from finesim.evaluation.sts import evaluate_sts
    from finesim.models.encoder import Encoder
    from finesim.training.config import load_config
    from finesim.training.trainer import train

    before = evaluate_sts(Encoder(model), "stsb", "dev", cache=False)["tasks"]["stsb"]["spearman"]
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            "sbert-sts", [f"epochs={epochs}", "evaluator=''", "checkpoint_every=0"]
        )
        summary = train(config, model, Path(tmp) / "run", show_progress=False)
        after_model = Encoder(Path(tmp) / "run" / "last")
        after = evaluate_sts(after_model, "stsb", "dev", cache=False)["tasks"]["stsb"]["spearman"]
    return {
        "recipe": "sbert-sts",
        "epochs": epochs,
        "steps": summary["steps"],
        "seconds": summary["seconds"],
        "stsb_dev_spearman_before": before,
        "stsb_dev_spearman_after": after,
    }


def bench_simcse(model: str, overrides: list[str] | None = None) -> dict[str, Any]:
    # heavy (torch): imported here so that `finesim --help` stays fast
    from finesim.evaluation.sts import evaluate_sts
    from finesim.models.encoder import Encoder
    from finesim.training.config import load_config
    from finesim.training.trainer import train

    before = _table(evaluate_sts(Encoder(model), "all", "test"))
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            "simcse-sup", ["evaluator=''", "checkpoint_every=0", *(overrides or [])]
        )
        summary = train(config, model, Path(tmp) / "run", show_progress=False)
        after = _table(
            evaluate_sts(Encoder(Path(tmp) / "run" / "last"), "all", "test", cache=False)
        )
    return {
        "recipe": "simcse-sup",
        "settings": overrides or [],
        "steps": summary["steps"],
        "seconds": summary["seconds"],
        "sts_before": before,
        "sts_after": after,
    }


def _finesim_steps_per_s(
    model: str, pairs: list[Any], steps: int, batch: int, max_length: int
) -> float:
    """``train`` timed whole (``TIMING``): it loads the model and writes ``last/``."""
    from finesim.training.config import load_config
    from finesim.training.trainer import train

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [
            f"batch_size={batch}",
            f"max_steps={steps}",
            f"max_length={max_length}",
            "checkpoint_every=0",
            "log_every=1000",
            "loss_args={temperature: 0.05}",
            "warmup_ratio=0.0",
            "lr=2e-5",
            "weight_decay=0.0",
        ]
        config = load_config(None, overrides)
        start = time.perf_counter()
        summary = train(config, model, Path(tmp) / "run", examples=pairs, show_progress=False)
        seconds = time.perf_counter() - start
    return float(summary["steps"]) / seconds


def _st_steps_per_s(
    model_dir: str, pairs: list[Any], steps: int, batch: int, max_length: int
) -> float:
    """Model load, trainer and ``trainer.train()`` timed whole (``TIMING``), saving one
    checkpoint (model, optimizer, scheduler, RNG) at the last step as finesim writes ``last/``."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    data = Dataset.from_dict(
        {
            "anchor": [p.texts["anchor"] for p in pairs],
            "positive": [p.texts["positive"] for p in pairs],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        st = SentenceTransformer(model_dir, device="cpu")
        st.max_seq_length = max_length
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=batch,
            max_steps=steps,
            learning_rate=2e-5,
            warmup_steps=0,
            weight_decay=0.0,
            save_strategy="steps",
            save_steps=steps,  # one checkpoint, at the last step
            logging_strategy="no",
            report_to="none",
            dataloader_num_workers=0,
            seed=42,
            use_cpu=True,
            disable_tqdm=True,
        )
        trainer = SentenceTransformerTrainer(
            model=st,
            args=args,
            train_dataset=data,
            loss=MultipleNegativesRankingLoss(st, scale=20.0),
        )
        trainer.train()
        return steps / (time.perf_counter() - start)


def bench_throughput(
    model: str, steps: int = 20, batch: int = 32, max_length: int = 64, repeats: int = 3
) -> dict[str, Any]:
    from finesim.data.pairs import load_examples
    from finesim.models import registry

    machine = machine_summary()  # before the runs load it
    folder = str(registry.resolve(model))
    triples = load_examples("snli-triples", "triples")
    pairs = [
        type(t)({"anchor": t.texts["anchor"], "positive": t.texts["positive"]}) for t in triples
    ]
    pairs = pairs[: steps * batch]
    ours, theirs = [], []
    for _ in range(repeats):  # interleaved, so drift in machine load hits both
        ours.append(_finesim_steps_per_s(folder, pairs, steps, batch, max_length))
        theirs.append(_st_steps_per_s(folder, pairs, steps, batch, max_length))
    f, s = statistics.median(ours), statistics.median(theirs)
    return {
        "model": model,
        "steps": steps,
        "batch_size": batch,
        "max_length": max_length,
        "loss": "InfoNCE / MultipleNegativesRankingLoss (temperature 0.05)",
        "timing": TIMING,
        "finesim_steps_per_s": f,
        "st_steps_per_s": s,
        "ratio": f / s,
        "finesim_runs": ours,
        "st_runs": theirs,
        "peak_rss_mb": _peak_rss_mb(),
        "machine": machine,
    }


def run_train_bench(
    model: str,
    parts: list[str],
    steps: int = 20,
    batch: int = 32,
    max_length: int = 64,
    simcse_set: list[str] | None = None,
) -> dict[str, Any]:
    """The chosen ``parts`` (of ``PARTS``), each under its own key."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise FinesimError(f"unknown part(s) {unknown}; use sts, simcse, throughput or all")
    result: dict[str, Any] = {}
    if "sts" in parts:
        result["sts"] = bench_sts(model)
    if "simcse" in parts:
        result["simcse"] = bench_simcse(model, simcse_set)
    if "throughput" in parts:
        result["throughput"] = bench_throughput(model, steps, batch, max_length)
    return result
