"""``finesim encode``: a file of texts to a file of vectors, in shards that survive a crash.

Vectors are written shard by shard into a hidden work folder beside the output. A run that is
killed and started again with the same command (same input file, model and options) keeps the
complete shards and goes on from there; the output itself appears only at the end, by rename.
Each shard records how many of its inputs were truncated, so a resumed run reports them all.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from finesim._util.atomic import atomic_path, recover_all
from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS
from finesim.data.texts import TextFile
from finesim.models.encoder import Encoder
from finesim.models.spec import EncoderSpec

log = logging.getLogger(__name__)
OUTPUT_FORMATS = (".npy", ".parquet")
TRUNCATED = b"finesim_truncated"  # a shard's metadata: how many of its inputs were truncated


@dataclass(frozen=True)
class EncodeOptions:
    """The options that decide the output: a resumed run must use the same ones.

    ``spec`` is the encoder (``Encoder.spec``: its backend resolved, since int8 vectors differ
    from fp32 and a run never resumes across backends); ``max_length`` and ``normalize`` are
    per-call choices on top of the model's own; ``prompt_name``, ``prompt`` and ``task``
    ("query"/"document": a Router's route) as in ``Encoder.encode``.
    """

    spec: EncoderSpec
    batch_size: int = 32
    max_length: int | None = None
    normalize: bool | None = None
    shard_size: int = 10_000
    prompt_name: str | None = None
    prompt: str | None = None
    task: str | None = None

    def prompting(self) -> dict[str, Any]:
        """The ``encode`` keywords that pick the prompt and route."""
        return {"prompt_name": self.prompt_name, "prompt": self.prompt, "task": self.task}


def check_output(output: Path, overwrite: bool) -> None:
    """Fail before any work on an output that cannot or must not be written."""
    if output.suffix.lower() not in OUTPUT_FORMATS:
        raise FinesimError(f"{output}: unsupported output format; use .npy or .parquet")
    if not output.parent.is_dir():
        raise FinesimError(f"{output.parent}: no such folder for the output")
    if output.exists() and not overwrite:
        raise FinesimError(f"{output}: exists; pass --overwrite to replace it")
    if not os.access(output.parent, os.W_OK | os.X_OK):
        raise FinesimError(f"{output}: cannot write into {output.parent} (permission denied)")


def count_records(source: TextFile) -> int:
    """Read the whole input once, so that bad rows fail before any encoding starts."""
    return sum(1 for _ in source)


def work_dir(output: Path) -> Path:
    return output.with_name(f".{output.name}.shards")


def _manifest(source: TextFile, options: EncodeOptions, dim: int) -> dict[str, Any]:
    stat = source.path.stat()
    return {
        "input": str(source.path.resolve()),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "field": source.field,
        "id_field": source.id_field,
        "skip_empty": source.skip_empty,
        "dim": dim,
        **asdict(options),
    }


def _prepare_work_dir(folder: Path, manifest: dict[str, Any]) -> int:
    """Create or reuse the shard folder; return how many complete shards it already holds."""
    manifest_file = folder / "manifest.json"
    if folder.exists():
        try:
            same = json.loads(manifest_file.read_text()) == manifest
        except (OSError, *JSON_ERRORS):
            same = False
        if not same:
            log.info("discarding shards of an earlier run with another input or options")
            shutil.rmtree(folder)
    if not folder.exists():
        folder.mkdir()
        with atomic_path(manifest_file) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2))
    recover_all(folder)  # temp files of shards that a killed run was writing
    done = 0
    while _shard(folder, done).is_file():
        done += 1
    return done


def _shard(folder: Path, index: int) -> Path:
    return folder / f"shard-{index:06d}.parquet"


def vector_table(ids: list[int | str], vectors: np.ndarray) -> pa.Table:
    """The shard and output layout: an ``id`` column (int64, or string ids) and ``embedding``
    (fixed-size float32 lists). Public because the Ray engine writes its parts with it."""
    flat = pa.array(vectors.astype(np.float32, copy=False).reshape(-1), type=pa.float32())
    embedding = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
    id_type = pa.string() if ids and isinstance(ids[0], str) else pa.int64()
    return pa.table({"id": pa.array(ids, type=id_type), "embedding": embedding})


def _vectors(table: pa.Table) -> np.ndarray:
    column = table.column("embedding").combine_chunks()
    return column.values.to_numpy().reshape(len(table), -1)


def chunks(records: Iterator[tuple[int | str, str]], size: int) -> Iterator[list[Any]]:
    """``records`` in lists of ``size`` (the last one shorter): one shard each, here and in
    the Ray engine's parts."""
    while chunk := list(islice(records, size)):
        yield chunk


def encode_file(
    encoder: Encoder,
    source: TextFile,
    output: Path,
    options: EncodeOptions,
    total: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Encode ``source`` into ``output`` (.npy or .parquet); resume from complete shards.

    ``options.spec`` must be ``encoder.spec``: it is what the shards are recorded as.
    """
    if options.spec != encoder.spec:
        raise ValueError(f"options are for {options.spec}, the encoder is {encoder.spec}")
    folder = work_dir(output)
    try:
        done = _prepare_work_dir(folder, _manifest(source, options, encoder.dim))
    except PermissionError as e:  # the work folder is ours; the user asked for the output
        raise FinesimError(f"{output}: cannot write there ({e.strerror})") from None
    if done:
        log.info(
            "resuming: %d complete shards of %d rows found in %s", done, options.shard_size, folder
        )
        if progress is not None:
            progress(min(done * options.shard_size, total))
    records = iter(source)
    for _ in islice(records, done * options.shard_size):  # skip what is already encoded
        pass
    truncated = sum(_truncated(_shard(folder, index)) for index in range(done))
    for index, chunk in enumerate(chunks(records, options.shard_size), start=done):
        ids = [r[0] for r in chunk]
        blocks = encoder.encode_iter(
            [r[1] for r in chunk],
            options.batch_size,
            options.normalize,
            options.max_length,
            chunk_size=len(chunk),
            on_batch=progress,
            **options.prompting(),
        )
        vectors = np.concatenate(list(blocks))
        truncated += encoder.stats.truncated
        table = vector_table(ids, vectors)
        table = table.replace_schema_metadata({TRUNCATED: str(encoder.stats.truncated)})
        with atomic_path(_shard(folder, index)) as tmp:
            pq.write_table(table, tmp)
    rows = assemble(folder, output, encoder.dim)
    shutil.rmtree(folder)
    return {
        "output": str(output),
        "rows": rows,
        "dimension": encoder.dim,
        "truncated": truncated,
        "resumed_shards": done,
    }


def _truncated(shard: Path) -> int:
    """The truncated inputs a shard records (0 for shards of older finesims, which did not)."""
    metadata = pq.read_schema(shard).metadata or {}
    return int(metadata.get(TRUNCATED, b"0"))


def assemble(folder: Path, output: Path, dim: int) -> int:
    """Join the shards into the output file, written under a temp name and renamed; return the
    row count. Public because the Ray engine assembles its parts with it too."""
    shards = sorted(folder.glob("shard-*.parquet"))
    rows = sum(pq.ParquetFile(s).metadata.num_rows for s in shards)
    with atomic_path(output, sweep=True) as tmp:
        if output.suffix.lower() == ".npy":
            # Plain writes, not a memmap: mapped pages count as resident, so a memmap of a
            # 1.5 GB output would lift peak RSS by 1.5 GB.
            header = {"descr": "<f4", "fortran_order": False, "shape": (rows, dim)}
            with tmp.open("wb") as f:
                np.lib.format.write_array_header_1_0(f, header)
                for shard in shards:
                    f.write(_vectors(pq.read_table(shard)).astype("<f4", copy=False).tobytes())
        else:
            schema = (
                pq.read_schema(shards[0]) if shards else vector_table([], np.zeros((0, dim))).schema
            ).remove_metadata()
            with pq.ParquetWriter(tmp, schema) as writer:
                for shard in shards:
                    writer.write_table(pq.read_table(shard))
    return rows
