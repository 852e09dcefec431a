"""``finesim bench encode``: texts/s of finesim's backends next to sentence-transformers and
fastembed, on one text set, in one process, with interleaved repetitions and medians.

Every runner encodes the same texts with the same batch size; each repetition times every
runner once, in turn, so that a slow spell on a shared machine hits them all alike. Vectors are
compared with sentence-transformers' (cosine), and speeds with the machine's fp32 limit
(``flops.py``). fastembed runs the very ONNX file of the ``onnx`` backend, so nothing is
downloaded, and cuts texts where finesim does (256 tokens for minilm), so the difference is
in how texts are batched and fed.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.threads import cpu_count
from finesim.bench.flops import limit_per_s
from finesim.bench.machine import gemm_gflops, int8_gemm_gops, machine_info
from finesim.bench.profile import onnx_profile
from finesim.bench.texts import bench_texts
from finesim.models import registry
from finesim.models.encoder import Encoder
from finesim.models.onnx.format import BACKENDS

AGAINST = ("sentence-transformers", "fastembed")


@dataclass
class Runner:
    name: str
    encode: Callable[[list[str]], np.ndarray]


def _sentence_transformers(folder: Path, batch_size: int) -> Runner:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return Runner(
        "sentence_transformers",
        lambda texts: model.encode(texts, batch_size=batch_size, convert_to_numpy=True),
    )


def _fastembed_view(exported: Path, max_length: int, folder: Path) -> Path:
    """The exported folder as fastembed reads it, cutting texts where finesim does.

    fastembed truncates at min(model_max_length, max_length) of tokenizer_config.json (128
    for minilm's files, not sentence-transformers' 256), so the view's config says
    ``max_length``; the ONNX file and tokenizer are links to the export's own.
    """
    (folder / "onnx").mkdir(parents=True)
    for name in ("tokenizer.json", "config.json", "special_tokens_map.json"):
        if (exported / name).is_file():
            (folder / name).symlink_to(exported / name)
    (folder / "onnx" / "model.onnx").symlink_to(exported / "onnx" / "model.onnx")
    config = json.loads((exported / "tokenizer_config.json").read_text(encoding="utf-8"))
    config |= {"model_max_length": max_length, "max_length": max_length}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def _fastembed(exported: Path, dim: int, batch_size: int, cache: Path) -> Runner:
    """fastembed on ``exported`` (an ONNX folder), with its own batching and feeding."""
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    name = f"finesim/bench-{exported.name}-{time.monotonic_ns()}"  # a fresh registry entry
    TextEmbedding.add_custom_model(
        model=name,
        pooling=PoolingType.DISABLED,  # the graph pools; fastembed only normalises
        normalization=True,
        sources=ModelSource(hf=name),
        dim=dim,
        model_file="onnx/model.onnx",
        output_name="sentence_embedding",
    )
    model = TextEmbedding(
        model_name=name,
        specific_model_path=str(exported),
        threads=cpu_count(),
        cache_dir=str(cache),
    )
    return Runner(
        "fastembed", lambda texts: np.array(list(model.embed(texts, batch_size=batch_size)))
    )


def _finesim(encoder: Encoder, batch_size: int) -> Runner:
    return Runner(
        encoder.backend,
        lambda texts: encoder.encode(texts, batch_size=batch_size, show_progress=False),
    )


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _time_interleaved(
    runners: Sequence[Runner], texts: list[str], reps: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds per pass over ``texts``, each repetition running every runner once in turn."""
    for runner in runners:
        runner.encode(texts[:warmup])
    seconds: dict[str, list[float]] = {r.name: [] for r in runners}
    for _ in range(reps):
        for runner in runners:
            start = time.perf_counter()
            runner.encode(texts)
            seconds[runner.name].append(time.perf_counter() - start)
    return seconds


def _versions() -> dict[str, str]:
    found = {}
    for package in (
        "finesim",
        "torch",
        "onnxruntime",
        "openvino",
        "sentence-transformers",
        "fastembed",
    ):
        try:
            found[package] = md.version(package)
        except md.PackageNotFoundError:
            pass
    return found


def _entry(
    count: int,
    seconds: list[float],
    limit: float,
    base: float | None,
    vectors: np.ndarray,
    reference: np.ndarray,
) -> dict[str, Any]:
    """One runner's figures: median texts/s, its runs, ratio, share of the limit, cosines."""
    per_s = count / statistics.median(seconds)
    cos = (vectors * reference).sum(axis=1)
    entry: dict[str, Any] = {
        "per_s": round(per_s, 1),
        "runs_per_s": [round(count / s, 1) for s in seconds],
        "of_limit": round(per_s / limit, 3),
    }
    if base is not None:
        entry["ratio"] = round(per_s / base, 2)
    entry["mean_cos"] = round(float(cos.mean()), 5)
    entry["min_cos"] = round(float(cos.min()), 5)
    return entry


def _check(backends: Sequence[str], against: Sequence[str]) -> None:
    for name in backends:
        if name not in BACKENDS:
            raise FinesimError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    for name in against:
        if name not in AGAINST:
            raise FinesimError(f"unknown competitor {name!r}; choose from {', '.join(AGAINST)}")


def _runners(
    model: str, encoders: dict[str, Encoder], against: Sequence[str], batch_size: int, tmp: Path
) -> list[Runner]:
    """Competitors first, then finesim's backends; fastembed reads the onnx backend's file."""
    runners: list[Runner] = []
    if "sentence-transformers" in against:
        runners.append(_sentence_transformers(registry.resolve(model), batch_size))
    if "fastembed" in against:
        onnx = encoders.get("onnx") or Encoder(model, backend="onnx")
        view = _fastembed_view(onnx._onnx.path.parents[1], onnx.max_length, tmp / "fastembed")
        runners.append(_fastembed(view, onnx.dim, batch_size, tmp / "cache"))
    return runners + [_finesim(encoder, batch_size) for encoder in encoders.values()]


def run_encode_bench(
    model: str = "minilm",
    texts_name: str = "stsb",
    backends: Sequence[str] = ("torch", "onnx", "onnx-int8", "openvino"),
    against: Sequence[str] = AGAINST,
    batch_size: int = 32,
    reps: int = 5,
    count: int | None = None,
    profile: bool = False,
) -> dict[str, Any]:
    """Speeds (median texts/s), ratios to sentence-transformers, fractions of the fp32 limit,
    and cosines to sentence-transformers' vectors, as one JSON-ready dict."""
    _check(backends, against)
    load_at_start = os.getloadavg()[0]
    texts = bench_texts(texts_name, count)
    gemm, int8_gops = gemm_gflops(), int8_gemm_gops()
    encoders = {b: Encoder(model, backend=b) for b in backends}
    probe = encoders.get("torch") or Encoder(model, backend="torch")
    tokens = [len(e.ids) for e in probe._encodings(texts, None)]
    with tempfile.TemporaryDirectory(prefix="finesim-bench-") as tmp:
        runners = _runners(model, encoders, against, batch_size, Path(tmp))
        vectors = {r.name: _unit(r.encode(texts)) for r in runners}
        seconds = _time_interleaved(runners, texts, reps, warmup=2 * batch_size)
    # the peak again after the runs, best of both: on a shared machine one may be cut short
    gemm = {k: max(v, w) for (k, v), w in zip(gemm.items(), gemm_gflops().values(), strict=True)}
    int8_gops = max(int8_gops, int8_gemm_gops())
    limit = limit_per_s(tokens, probe.transformer, max(gemm.values()))
    reference_name = "sentence_transformers" if "sentence-transformers" in against else None
    reference = vectors[reference_name or runners[0].name]
    base = len(texts) / statistics.median(seconds[reference_name]) if reference_name else None
    result: dict[str, Any] = {
        "model": model,
        "texts": {
            "name": texts_name,
            "count": len(texts),
            "mean_tokens": round(float(np.mean(tokens)), 1),
            "max_tokens": int(max(tokens)),
        },
        "batch_size": batch_size,
        "reps": reps,
        "machine": {
            **machine_info(gemm),
            # u8 x s8 MatMulInteger: what the onnx-int8 backend's matmuls can reach at best
            "int8_gemm_gops": int8_gops,
            "int8_to_fp32_gemm": round(int8_gops / max(gemm.values()), 2),
        },
        # 1-minute load average (the bench itself adds about the core count): above that,
        # other work shared the CPUs and the absolute speeds (not the ratios) are low.
        "loadavg": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
        "limit_per_s": round(limit, 1),
        "versions": _versions(),
    }
    for runner in runners:
        result[runner.name] = _entry(
            len(texts), seconds[runner.name], limit, base, vectors[runner.name], reference
        )
    if reference_name:
        for key in ("ratio", "mean_cos", "min_cos"):
            result[reference_name].pop(key, None)
    if profile:
        for name, encoder in encoders.items():
            if name not in ("torch", "openvino"):  # onnxruntime's profiler
                result[name]["profile"] = onnx_profile(encoder, texts, batch_size)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result
