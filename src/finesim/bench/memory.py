"""``finesim bench memory``: peak RSS of a streaming ``finesim encode`` of a large file.

The encode runs as a child process (``python -m finesim encode``), so its peak RSS is its own
(``wait4``), not the benchmark's; RSS is also sampled while it runs, to show it stays flat.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError


def _sample_texts() -> list[str]:
    """STS-B sentences where the data is present, else a few built-in ones."""
    try:
        from finesim.bench.texts import bench_texts

        return bench_texts("stsb", 10_000)
    except FinesimError:
        return [
            "A man is playing a guitar.",
            "The central bank raised interest rates again.",
            "We propose a contrastive objective for sentence embeddings.",
        ]


def write_lines(path: Path, lines: int) -> None:
    """A text file of ``lines`` sentences, one a line."""
    with path.open("w", encoding="utf-8") as f:
        for number, text in enumerate(islice(cycle(_sample_texts()), lines)):
            f.write(f"{text} ({number})\n")


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_child(
    command: list[str], log_path: Path, sample_every_s: float
) -> tuple[subprocess.Popen[bytes], float, float, list[tuple[float, float]], str]:
    """Run ``command`` to its end: the child, its seconds, its peak RSS (MB, from the
    kernel's own account: ``wait4``), RSS samples every ``sample_every_s`` and its output."""
    start = time.perf_counter()
    samples: list[tuple[float, float]] = []
    with open(log_path, "w+") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            rss = _rss_mb(child.pid)
            if rss is not None:
                samples.append((round(time.perf_counter() - start, 1), round(rss, 1)))
            time.sleep(sample_every_s)
        child.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        messages = log.read()
    seconds = time.perf_counter() - start
    return child, seconds, round(usage.ru_maxrss / 1024, 1), samples, messages


def run_memory_bench(
    model: str = "minilm",
    backend: str = "onnx-int8",
    lines: int = 1_000_000,
    output_format: str = "npy",
    batch_size: int = 32,
    sample_every_s: float = 5.0,
) -> dict[str, Any]:
    """Encode a ``lines``-line file in a child process; its peak RSS, time and RSS samples."""
    if output_format not in ("npy", "parquet"):
        raise FinesimError("output format must be npy or parquet")
    from finesim.models.encoder import Encoder

    Encoder(model, backend=backend)  # export into the cache first: the child only encodes
    with tempfile.TemporaryDirectory(prefix="finesim-memory-") as tmp:
        source, output = Path(tmp) / "texts.txt", Path(tmp) / f"vectors.{output_format}"
        write_lines(source, lines)
        command = [sys.executable, "-m", "finesim", "encode", "-m", model, "--backend", backend]
        command += ["-i", str(source), "-o", str(output), "--batch-size", str(batch_size)]
        child, seconds, peak, samples, messages = run_child(
            command, Path(tmp) / "log", sample_every_s
        )
        if child.returncode != 0:
            raise FinesimError(f"finesim encode failed: {messages.strip()[-500:]}")
        size = output.stat().st_size
    return {
        "model": model,
        "backend": backend,
        "lines": lines,
        "output": output_format,
        "output_mb": round(size / 2**20, 3),
        "seconds": round(seconds, 1),
        "per_s": round(lines / seconds, 1),
        "peak_rss_mb": peak,
        "rss_samples_mb": samples,
        "message": messages.strip().splitlines()[-1] if messages.strip() else "",
    }
