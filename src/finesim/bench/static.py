"""``finesim bench static``: static models distilled from a teacher against the teacher itself.

Systems: the teacher run by sentence-transformers (the speed reference) and by finesim;
finesim's distilled static model (``finesim distill``), that model after a short contrastive
training run (``finesim train`` on the table), sentence-transformers running finesim's static
folder, and model2vec's own ``distill`` of the same teacher (``model2vec`` package, its
defaults but for the same PCA width). Each gets sentences/s on the bench text sets, STS
(7 tasks, Spearman x100, intervals) and CSFCube ``abstract`` MAP / NDCG%20 (intervals), and
its size on disk; finesim's static models are compared with model2vec's on the same sentence
pairs and queries (paired tests).

Timing is the same for every system: an ``encode`` call on the same texts, after a warm-up
call, repeated ``reps`` times with the systems interleaved (a slow spell on a shared machine
hits them all), best run reported; one torch thread setting for all, stated in the result.
model2vec's quality is measured on its saved folder loaded by finesim (its vectors checked
against model2vec's own ``encode``: ``parity_min_cos``).
"""

from __future__ import annotations

import importlib.metadata as md
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.bench.machine import machine_summary
from finesim.bench.texts import TEXT_SETS, bench_texts
from finesim.models import registry
from finesim.models.encoder import Encoder

SYSTEMS = (
    "sentence-transformers",
    "teacher",
    "finesim-static",
    "finesim-static-trained",
    "st-static",
    "model2vec",
)
STATIC = ("finesim-static", "finesim-static-trained", "st-static", "model2vec")
# the systems scored for quality (st-static gives finesim-static's vectors, checked by tests)
SCORED = ("teacher", "finesim-static", "finesim-static-trained", "model2vec")
# the short training run of a distilled table: the recipe's data (5,864 SNLI triples) and
# loss, no length cut (a table has no length cost). lr and epochs chosen on STS-B dev (minilm
# teacher; untrained 79.18): lr 1e-3 / 3e-3 / 1e-2 / 3e-2 one epoch 79.49 / 80.08 / 81.35 /
# 82.18, three epochs 3e-3 / 1e-2 / 3e-2 81.20 / 82.49 / 82.41; sentence-transformers' 0.2
# (for tables trained from random on millions of pairs) took STS 7-task test from 67.6 to 57.6
TRAIN_RECIPE = "simcse-sup"
TRAIN_SET = (
    "lr=0.01",
    "batch_size=256",
    "mini_batch=0",
    "max_length=0",
    "epochs=3",
    "warmup_ratio=0.1",
    'evaluator=""',
    "checkpoint_every=0",
)


@dataclass
class StaticBench:
    """What to run. ``train_recipe`` "" skips the trained system; ``train_set``: its
    ``--set`` overrides after ``TRAIN_SET``; ``workdir``: keep the models there."""

    model: str = "minilm"
    dim: int = 256
    systems: Sequence[str] = SYSTEMS
    parts: Sequence[str] = ("speed", "quality")
    texts: Sequence[str] = tuple(TEXT_SETS)
    reps: int = 5
    batch_size: int = 32
    static_batch_size: int = 1024
    count: int | None = None
    sts_tasks: str = "all"
    train_recipe: str = TRAIN_RECIPE
    train_set: Sequence[str] = field(default_factory=list)
    workdir: Path | None = None


def check(bench: StaticBench) -> None:
    """Unknown names fail before any work."""
    for name in bench.systems:
        if name not in SYSTEMS:
            raise FinesimError(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}")
    for part in bench.parts:
        if part not in ("speed", "quality"):
            raise FinesimError(f"unknown part {part!r}; choose speed, quality or both")
    for name in bench.texts:
        if name not in TEXT_SETS:
            raise FinesimError(f"unknown text set {name!r}; one of {', '.join(TEXT_SETS)}")
    from finesim.evaluation.sts import parse_tasks

    parse_tasks(bench.sts_tasks)
    if "finesim-static-trained" in bench.systems and not bench.train_recipe:
        raise FinesimError("finesim-static-trained needs a --train-recipe")


def folder_mb(folder: Path) -> float:
    """Size on disk of a model folder: every file in it, in MB (10^6 bytes)."""
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 2)


def _distill(teacher: Encoder, dim: int, out: Path) -> dict[str, Any]:
    from finesim.models.distill import (
        DistillSettings,
        distill_tower,
        save_distilled,
        static_encoder,
    )

    started = time.perf_counter()
    tower, record = distill_tower(teacher, DistillSettings(dim=dim), show_progress=False)
    save_distilled(static_encoder(tower, str(out)), out, record, overwrite=True)
    return {"seconds": round(time.perf_counter() - started, 1), "tokens": record["tokens"]}


def _train(static: Path, out: Path, recipe: str, overrides: Sequence[str]) -> dict[str, Any]:
    from finesim.training import load_config, train

    config = load_config(recipe, [*TRAIN_SET, *overrides])
    summary = train(config, str(static), out, show_progress=False)
    return {
        "recipe": recipe,
        "set": [*TRAIN_SET, *overrides],
        "data": config.data,
        "steps": summary["steps"],
        "seconds": round(summary["seconds"], 1),
    }


def _model2vec(folder: Path, dim: int, out: Path) -> tuple[Any, dict[str, Any]]:
    try:
        from model2vec.distill import distill as m2v_distill
    except ImportError as e:
        raise FinesimError(f"model2vec is not installed ({e}); `make install` adds it") from None
    started = time.perf_counter()
    model = m2v_distill(model_name=str(folder), pca_dims=dim)
    seconds = round(time.perf_counter() - started, 1)
    model.save_pretrained(str(out))
    return model, {"seconds": seconds, "version": md.version("model2vec")}


def model2vec_encoder(folder: Path) -> Encoder:
    """model2vec's saved folder as a finesim Encoder that gives model2vec's vectors.

    model2vec's ``encode`` leaves unknown tokens out of the mean, sentence-transformers' (and
    finesim's) StaticEmbedding averages their row in: with that row zero, the normalised mean
    is model2vec's (``parity_min_cos`` checks it on the bench texts)."""
    import torch

    from finesim.models.distill import unknown_id
    from finesim.models.towers import StaticTower

    encoder = Encoder(folder)
    tower = encoder.routes["default"].tower
    if not isinstance(tower, StaticTower):
        raise FinesimError(f"{folder}: model2vec saved no StaticEmbedding")
    unknown = unknown_id(tower.tokenizer)
    if unknown is not None:
        with torch.no_grad():
            tower.embedding.weight[unknown] = 0.0
    return encoder


@dataclass
class System:
    """One system: how it encodes (for timing) and, when scored, its finesim Encoder."""

    name: str
    encode: Callable[[list[str]], Any]
    folder: Path
    encoder: Encoder | None = None
    info: dict[str, Any] = field(default_factory=dict)


def build_systems(bench: StaticBench, tmp: Path) -> list[System]:
    """Distil, train and load every asked system (the models written under ``tmp``)."""
    from sentence_transformers import SentenceTransformer

    asked = set(bench.systems)
    teacher_folder = registry.resolve(bench.model)
    teacher = Encoder(bench.model)
    batch, static_batch = bench.batch_size, bench.static_batch_size
    systems: list[System] = []

    def finesim(name: str, encoder: Encoder, folder: Path, size: int, **info: Any) -> System:
        def encode(texts: list[str]) -> Any:
            return encoder.encode(texts, batch_size=size, show_progress=False)

        return System(name, encode, folder, encoder, dict(info))

    def st(name: str, folder: Path, size: int) -> System:
        model = SentenceTransformer(str(folder), device="cpu")
        return System(name, lambda t: model.encode(t, batch_size=size), folder)

    if "sentence-transformers" in asked:
        systems.append(st("sentence-transformers", teacher_folder, batch))
    if "teacher" in asked:
        systems.append(finesim("teacher", teacher, teacher_folder, batch))
    static_folder = tmp / "finesim-static"
    if asked & {"finesim-static", "finesim-static-trained", "st-static"}:
        made = _distill(teacher, bench.dim, static_folder)
        if "finesim-static" in asked:
            encoder = Encoder(static_folder)
            systems.append(finesim("finesim-static", encoder, static_folder, static_batch, **made))
        if "finesim-static-trained" in asked:
            run = _train(static_folder, tmp / "trained", bench.train_recipe, bench.train_set)
            trained = Encoder(tmp / "trained" / "last")
            model = trained.save(tmp / "finesim-static-trained", overwrite=True)  # no trainer state
            systems.append(finesim("finesim-static-trained", trained, model, static_batch, **run))
        if "st-static" in asked:
            systems.append(st("st-static", static_folder, static_batch))
    if "model2vec" in asked:
        folder = tmp / "model2vec"
        model, info = _model2vec(teacher_folder, bench.dim, folder)
        encode = lambda t: model.encode(t, batch_size=static_batch)  # noqa: E731
        systems.append(System("model2vec", encode, folder, model2vec_encoder(folder), info))
    return systems


def time_systems(
    systems: Sequence[System], texts: list[str], reps: int, warmup: int = 64
) -> dict[str, dict[str, Any]]:
    """Sentences/s of each system on ``texts``: best of ``reps`` interleaved runs."""
    for system in systems:
        system.encode(texts[:warmup])
    seconds: dict[str, list[float]] = {s.name: [] for s in systems}
    for _ in range(reps):
        for system in systems:
            start = time.perf_counter()
            system.encode(texts)
            seconds[system.name].append(time.perf_counter() - start)
    return {
        name: {
            "per_s": round(len(texts) / min(runs), 1),
            "runs_per_s": [round(len(texts) / s, 1) for s in runs],
        }
        for name, runs in seconds.items()
    }


def _unit(vectors: Any) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def parity_min_cos(system: System, texts: list[str]) -> float:
    """The least cosine between a system's own vectors and finesim's on its folder."""
    assert system.encoder is not None
    ours = _unit(system.encoder.encode(texts, batch_size=1024, show_progress=False))
    return round(float((ours * _unit(system.encode(texts))).sum(axis=1).min()), 5)


def quality(encoder: Encoder, sts_tasks: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """STS and CSFCube ``abstract`` figures (and the full results, for paired tests)."""
    from finesim.evaluation.csfcube import evaluate_csfcube
    from finesim.evaluation.sts import evaluate_sts

    sts = evaluate_sts(encoder, sts_tasks, "test", "raw", batch_size=64)
    cube = evaluate_csfcube(encoder, "abstract", "test", batch_size=64)
    figures = {
        "sts_avg_spearman": round(sts["avg"]["spearman"], 2),
        "sts_avg_ci95": sts.get("ci95", {}).get("avg", {}).get("spearman"),
        "sts_spearman": {t: round(r["spearman"], 2) for t, r in sts["tasks"].items()},
        "csfcube_abstract": {
            "map": round(cube["all"]["map"], 2),
            "ndcg%20": round(cube["all"]["ndcg%20"], 2),
            "ci95": cube["ci95"]["all"],
        },
    }
    return figures, {"sts": sts, "csfcube": cube}


def run_static_bench(bench: StaticBench) -> dict[str, Any]:
    """Every asked system's speed, quality and size, as one JSON-ready dict."""
    import torch

    from finesim.bench.static_report import compare, goals

    check(bench)
    result: dict[str, Any] = {
        "model": bench.model,
        "dim": bench.dim,
        "machine": machine_summary(),
        "torch_threads": torch.get_num_threads(),
        "batch_size": {"transformer": bench.batch_size, "static": bench.static_batch_size},
        "reps": bench.reps,
        "timing": "best of reps interleaved encode calls on the same texts, after a warm-up",
        "versions": _versions(),
        "systems": {},
    }
    with tempfile.TemporaryDirectory(prefix="finesim-static-bench-") as scratch:
        tmp = bench.workdir or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        systems = build_systems(bench, tmp)
        for system in systems:
            static = system.name in STATIC
            result["systems"][system.name] = {
                "kind": "static" if static else "transformer",
                "size_mb": folder_mb(system.folder),
                **({"build": system.info} if system.info else {}),
            }
        if "speed" in bench.parts:
            for name in bench.texts:
                texts = bench_texts(name, bench.count)
                speeds = time_systems(systems, texts, bench.reps)
                for system_name, figures in speeds.items():
                    result["systems"][system_name].setdefault("speed", {})[name] = {
                        "texts": len(texts),
                        **figures,
                    }
        full: dict[str, dict[str, Any]] = {}
        if "quality" in bench.parts:
            for system in systems:
                if system.name in SCORED and system.encoder is not None:
                    figures, full[system.name] = quality(system.encoder, bench.sts_tasks)
                    result["systems"][system.name]["quality"] = figures
        for system in systems:
            if system.name == "model2vec":
                texts = bench_texts("stsb", 200) + bench_texts("abstracts", 50)
                result["systems"]["model2vec"]["parity_min_cos"] = parity_min_cos(system, texts)
    result["comparisons"] = compare(full)
    result["goals"] = goals(result)
    return result


def _versions() -> dict[str, str]:
    found = {}
    for package in ("finesim", "torch", "sentence-transformers", "model2vec", "tokenizers"):
        try:
            found[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    return found
