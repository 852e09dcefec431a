"""``finesim bench encode-engine``: ``finesim encode`` on the local engine and on Ray, timed.

Both engines encode the same file of texts into .npy with the same model and batch size; the
result says how long each took end to end (model loads and Ray's start included), how fast the
encoders ran once loaded (per core, the figure ``docs/scaling.md`` scales up), and how far the
Ray vectors are from the local ones.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.threads import cpu_count
from finesim.bench.machine import machine_summary
from finesim.bench.texts import bench_texts
from finesim.data.texts import TextFile
from finesim.engine.local import EncodeOptions, encode_file
from finesim.engine.options import RayOptions
from finesim.engine.ray_encode import encode_file_ray, import_ray, start_ray
from finesim.models.encoder import Encoder


def _local(
    model: str,
    backend: str,
    source: TextFile,
    out: Path,
    batch_size: int,
    total: int,
    threads: int,
) -> tuple[dict[str, Any], Encoder]:
    """The local engine with ``threads`` torch threads (one: the per-core speed, unshared)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        begin = time.perf_counter()
        encoder = Encoder(model, backend=backend)
        loaded = time.perf_counter()
        options = EncodeOptions(encoder.spec, batch_size)
        encode_file(encoder, source, out, options, total)
        done = time.perf_counter()
    finally:
        torch.set_num_threads(before)
    per_s = total / (done - loaded)
    figures = {
        "seconds": round(done - begin, 2),
        "model_load_seconds": round(loaded - begin, 2),
        "per_s": round(total / (done - begin), 1),
        "encode_per_s": round(per_s, 1),
        "threads": threads,
        "encode_per_s_per_core": round(per_s / min(threads, cpu_count()), 1),
    }
    return figures, encoder


def _ray(
    encoder: Encoder, source: TextFile, out: Path, batch_size: int, total: int, workers: int
) -> dict[str, Any]:
    ray = import_ray()
    begin = time.perf_counter()
    ours = start_ray(None)  # a Ray already running here (a test's) is used and left running
    started = time.perf_counter()
    try:
        options = EncodeOptions(encoder.spec, batch_size)
        summary = encode_file_ray(source, out, options, encoder.dim, RayOptions(workers=workers))
    finally:
        if ours:
            ray.shutdown()
    done = time.perf_counter()
    busy = summary["actor_busy_seconds"]
    per_actor = total / busy * summary["workers"] if busy else 0.0
    return {
        "workers": summary["workers"],
        "cpus_per_worker": summary["cpus_per_worker"],
        "threads_per_worker": summary["threads_per_worker"],
        "rows_per_call": summary["rows_per_call"],
        "seconds": round(done - begin, 2),
        "ray_start_seconds": round(started - begin, 2),
        "job_seconds": summary["encode_seconds"],
        "per_s": round(total / (done - begin), 1),
        "job_per_s": round(total / summary["encode_seconds"], 1),
        # the pool's speed while its actors were encoding (their model loads left out)
        "encode_per_s": round(per_actor, 1),
        "encode_per_s_per_core": round(per_actor / cpu_count(), 1),
    }


def run_engine_bench(
    model: str = "minilm",
    texts_name: str = "stsb",
    count: int | None = 4000,
    workers: Sequence[int] = (2,),
    batch_size: int = 32,
    backend: str = "torch",
) -> dict[str, Any]:
    """The local engine (all cores, then one thread), then Ray with each pool size in
    ``workers``; one JSON-ready dict."""
    load_at_start = os.getloadavg()[0]
    texts = bench_texts(texts_name, count)
    result: dict[str, Any] = {
        "model": model,
        "backend": backend,
        "texts": {"name": texts_name, "count": len(texts)},
        "batch_size": batch_size,
        "machine": machine_summary(),
    }
    with tempfile.TemporaryDirectory(prefix="finesim-bench-engine-") as tmp:
        source = TextFile(Path(tmp) / "texts.jsonl")
        source.path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        local, encoder = _local(
            model, backend, source, Path(tmp) / "local.npy", batch_size, len(texts), cpu_count()
        )
        result["local"] = local
        reference = np.load(Path(tmp) / "local.npy")
        if cpu_count() > 1 and backend == "torch":  # onnxruntime keeps its own thread count
            one, _ = _local(
                model, backend, source, Path(tmp) / "local-1.npy", batch_size, len(texts), 1
            )
            result["local_1_thread"] = one
        for count_workers in workers:
            out = Path(tmp) / f"ray-{count_workers}.npy"
            figures = _ray(encoder, source, out, batch_size, len(texts), count_workers)
            figures["max_abs_diff"] = float(np.abs(np.load(out) - reference).max())
            figures["ratio_to_local"] = round(figures["per_s"] / local["per_s"], 2)
            result[f"ray_{count_workers}_workers"] = figures
    # 1-minute load average: above the core count, other work shared the CPUs
    result["loadavg"] = [round(load_at_start, 2), round(os.getloadavg()[0], 2)]
    return result
