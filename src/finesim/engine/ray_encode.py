"""``finesim encode --engine ray``: the same vectors as the local engine, from a Ray actor pool.

The driver stages the records (read and checked by finesim's own readers, so ids, order and
errors are those of the local engine) as parquet input shards that carry each row's position
``seq``. Ray Data reads them and feeds ``map_batches`` with a pool of encoder actors (one model
load per actor). Each actor writes its vectors itself, one parquet part per contiguous run of
positions, named by the run's first position: a batch that Ray retries after its actor died
rewrites the same file with the same rows, so every row lands exactly once. The driver then
checks that the parts tile ``0..total`` and joins them into the output, as the local engine
does.

On a cluster (``address``) the output's folder must be on storage every node sees.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from finesim._util.atomic import atomic_path, scratch_folder
from finesim._util.errors import FinesimError
from finesim.data.texts import TextFile
from finesim.engine.local import EncodeOptions, assemble, chunks, vector_table
from finesim.engine.options import RayOptions

log = logging.getLogger(__name__)
OBJECT_STORE_BYTES = 256 << 20  # a local Ray holds only text batches and part summaries


@dataclass(frozen=True)
class Plan:
    """Resources of the actor pool, chosen so that the reads can run beside it.

    Whole CPUs per actor on a small machine leave nothing for Ray Data's read tasks, and the
    job waits forever (2 actors x 1 CPU on 2 CPUs was seen to hang), so actors take 90% and
    reads a tenth of a CPU.
    """

    workers: int
    actor_cpus: float
    threads: int
    read_cpus: float = 0.1


def plan(cpus: float, workers: int | None) -> Plan:
    """Actors, CPUs each (fractional) and torch threads each for a cluster of ``cpus`` CPUs.

    By default one single-threaded actor per CPU: on a busy 2-core machine two 1-thread actors
    encoded 379 sentences/s and one 2-thread actor 76 (``finesim bench encode-engine``).
    """
    if cpus < 1:
        raise FinesimError(f"the Ray cluster has {cpus:g} CPUs; it needs at least one")
    count = workers or max(1, int(cpus))
    share = cpus / count
    return Plan(count, round(0.9 * share, 3), max(1, int(share)))


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (configures its loggers, which _quiet_ray_data turns down)
    except ImportError:
        raise FinesimError(
            "--engine ray needs Ray: pip install 'finesim[ray]' (or 'ray[data]')"
        ) from None
    return ray


def start_ray(address: str | None) -> bool:
    """Connect to ``address`` or start a local Ray; True when this call started it."""
    ray = import_ray()
    if address:
        check_reachable(address)
    if ray.is_initialized():
        return False
    settings: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **settings)
        else:
            ray.init(
                num_cpus=len(os.sched_getaffinity(0)),  # the CPUs this process may use
                include_dashboard=False,
                object_store_memory=OBJECT_STORE_BYTES,
                **settings,
            )
    except (ConnectionError, ValueError, RuntimeError) as e:
        where = address or "a local Ray"
        raise FinesimError(f"could not start or reach {where}: {first_line(e)}") from None
    return True


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds on a HOST:PORT where nothing listens (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms: Ray resolves them
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise FinesimError(f"--address {address}: no Ray cluster answers there ({e})") from None


def first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _quiet_ray_data() -> None:
    """Warnings only on the console (Ray Data logs every step there); its log file keeps all."""
    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)


def _runs(seq: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges of ``seq`` over which it counts up by one."""
    breaks = np.flatnonzero(np.diff(seq) != 1) + 1
    edges = [0, *breaks.tolist(), len(seq)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def part_path(folder: Path, first: int) -> Path:
    """A part is named by its first row's position, so sorting names sorts rows."""
    return folder / f"shard-{first:012d}.parquet"


class EncodeActor:
    """One model per actor process; each call encodes a batch of rows and writes its parts.

    The model is ``options.spec``, loaded on ``device`` (None: cpu).

    Returns one summary row per part written (its first position, rows, truncated inputs and
    microseconds spent encoding and writing it), so nothing large travels back to the driver.
    """

    def __init__(
        self,
        options: EncodeOptions,
        parts: str,
        threads: int,
        device: str | None = None,
    ) -> None:
        import torch

        from finesim.models.encoder import Encoder

        torch.set_num_threads(threads)
        self.encoder = Encoder.from_spec(options.spec, device=device)
        self.options = options
        self.parts = Path(parts)

    def __call__(self, batch: pa.Table) -> pa.Table:
        seq = batch.column("seq").to_numpy()
        ids = batch.column("id").to_pylist()
        texts = batch.column("text").to_pylist()
        summary: dict[str, list[int]] = {"first": [], "rows": [], "truncated": [], "busy_us": []}
        for start, stop in _runs(seq):
            begin = time.perf_counter()
            blocks = self.encoder.encode_iter(
                texts[start:stop],
                self.options.batch_size,
                self.options.normalize,
                self.options.max_length,
                chunk_size=stop - start,
                **self.options.prompting(),
            )
            vectors = np.concatenate(list(blocks))
            with atomic_path(part_path(self.parts, int(seq[start]))) as tmp:
                pq.write_table(vector_table(ids[start:stop], vectors), tmp)
            summary["first"].append(int(seq[start]))
            summary["rows"].append(stop - start)
            summary["truncated"].append(self.encoder.stats.truncated)
            summary["busy_us"].append(int((time.perf_counter() - begin) * 1e6))
        return pa.table({k: pa.array(v, type=pa.int64()) for k, v in summary.items()})


def stage(records: Iterable[tuple[int | str, str]], folder: Path, rows: int) -> list[Path]:
    """Write ``(id, text)`` records as parquet input shards of ``rows`` rows, with positions."""
    folder.mkdir(parents=True, exist_ok=True)
    paths, seq = [], 0
    for index, chunk in enumerate(chunks(iter(records), rows)):
        ids = [r[0] for r in chunk]
        id_type = pa.string() if isinstance(ids[0], str) else pa.int64()
        table = pa.table(
            {
                "seq": pa.array(range(seq, seq + len(chunk)), type=pa.int64()),
                "id": pa.array(ids, type=id_type),
                "text": pa.array([r[1] for r in chunk], type=pa.string()),
            }
        )
        path = folder / f"input-{index:06d}.parquet"
        pq.write_table(table, path)
        paths.append(path)
        seq += len(chunk)
    return paths


def check_parts(folder: Path, total: int) -> None:
    """Every position from 0 to ``total`` in exactly one part, or the job failed."""
    expected = 0
    for path in sorted(folder.glob("shard-*.parquet")):
        first = int(path.stem.removeprefix("shard-"))
        if first != expected:
            raise FinesimError(f"{folder}: rows {expected}..{first} missing or repeated")
        expected += pq.ParquetFile(path).metadata.num_rows
    if expected != total:
        raise FinesimError(f"{folder}: {expected} rows encoded, expected {total}")


def run_pool(
    inputs: list[Path],
    parts: Path,
    total: int,
    options: EncodeOptions,
    ray_options: RayOptions,
) -> dict[str, Any]:
    """The Ray Data job: read the input shards, encode in the actor pool, write parts."""
    ray = import_ray()
    started = start_ray(ray_options.address)
    try:
        chosen = plan(float(ray.cluster_resources().get("CPU", 0)), ray_options.workers)
        _quiet_ray_data()
        context = ray.data.DataContext.get_current()
        # The v2 parquet reader lists files in a task that takes a whole CPU, which a pool
        # filling the machine never leaves free: it waits forever on 2 CPUs.
        context.use_datasource_v2 = False
        parts.mkdir(parents=True, exist_ok=True)
        rows_per_call = min(
            options.shard_size, max(options.batch_size, math.ceil(total / (4 * chosen.workers)))
        )
        dataset = ray.data.read_parquet(
            [str(p) for p in inputs], num_cpus=chosen.read_cpus, file_extensions=["parquet"]
        ).map_batches(
            EncodeActor,
            batch_size=rows_per_call,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=chosen.workers),
            num_cpus=chosen.actor_cpus,
            num_gpus=ray_options.gpus_per_worker or None,
            fn_constructor_kwargs={
                "options": options,
                "parts": str(parts),
                "threads": chosen.threads,
                "device": "cuda" if ray_options.gpus_per_worker > 0 else None,
            },
        )
        begin = time.perf_counter()
        # Ray prints notes about retried tasks on stdout, which is for --json's result
        with contextlib.redirect_stdout(sys.stderr):
            try:
                summary = dataset.take_all()
            except ray.exceptions.RayError as e:
                raise FinesimError(f"the Ray encoding job failed: {first_line(e)}") from None
            seconds = time.perf_counter() - begin
    finally:
        if started:
            with contextlib.redirect_stdout(sys.stderr):
                ray.shutdown()
    check_parts(parts, total)
    return {
        "workers": chosen.workers,
        "cpus_per_worker": chosen.actor_cpus,
        "threads_per_worker": chosen.threads,
        "rows_per_call": rows_per_call,
        "truncated": sum(int(row["truncated"]) for row in summary),
        "encode_seconds": round(seconds, 3),  # model loads in the actors included
        "actor_busy_seconds": round(sum(int(row["busy_us"]) for row in summary) / 1e6, 3),
    }


def work_folder(output: Path) -> Path:
    return output.with_name(f".{output.name}.ray")


def encode_file_ray(
    source: TextFile,
    output: Path,
    options: EncodeOptions,
    dim: int,
    ray_options: RayOptions,
) -> dict[str, Any]:
    """``encode_file`` on Ray: same output file, same ids, order and vectors (within 1e-5).

    Every actor loads ``options.spec``; ``dim`` is its vectors' length.

    A rerun starts over: Ray's retries, not resumable shards, carry a job over lost workers.
    """
    folder = work_folder(output)
    if folder.exists():
        shutil.rmtree(folder)
    try:
        inputs = stage(source, folder / "input", options.shard_size)
        total = sum(pq.ParquetFile(p).metadata.num_rows for p in inputs)
        if total:
            job = run_pool(inputs, folder / "parts", total, options, ray_options)
        else:
            (folder / "parts").mkdir()
            job = {"truncated": 0}
        rows = assemble(folder / "parts", output, dim)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "output": str(output),
        "rows": rows,
        "dimension": dim,
        "truncated": job.pop("truncated"),
        "engine": "ray",
        **job,
    }


def encode_texts_ray(
    texts: list[str],
    options: EncodeOptions,
    ray_options: RayOptions,
    workdir: Path,
) -> np.ndarray:
    """Vectors of ``texts`` (rows in order) through the actor pool, staged under ``workdir``."""
    if not texts:
        raise FinesimError("no texts to encode")
    with scratch_folder(workdir / "finesim-ray") as folder:
        inputs = stage(enumerate(texts), folder / "input", options.shard_size)
        run_pool(inputs, folder / "parts", len(texts), options, ray_options)
        return np.concatenate(list(_part_vectors(folder / "parts")))


def _part_vectors(folder: Path) -> Iterator[np.ndarray]:
    for path in sorted(folder.glob("shard-*.parquet")):
        column = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
        yield column.values.to_numpy().reshape(len(column), -1)
