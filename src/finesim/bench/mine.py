"""``finesim bench mine``: ``finesim mine negatives`` over a large constructed corpus, its time
and peak RSS (the memory that sentence-transformers' users report running out of).

The corpus is ``corpus`` sentences (STS-B sentences numbered, so every text is distinct); the
pairs are STS-B train's most similar pairs (score >= 4: sentence1 as anchor, sentence2 as
positive). The miner runs in a child process (``python -m finesim mine negatives``), so its
peak RSS is its own, taken from the kernel (``wait4``). The expected floor is the corpus
vectors themselves (corpus x dim x 4 bytes in faiss) plus the model.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from finesim._util.errors import FinesimError
from finesim.bench.machine import machine_summary
from finesim.bench.memory import run_child, write_lines
from finesim.data.sts import load_stsb


def write_pairs(path: Path, count: int) -> int:
    """Up to ``count`` STS-B train pairs scored 4 or more, as (anchor, positive) jsonl."""
    stsb = load_stsb("train")
    written = 0
    with path.open("w", encoding="utf-8") as f:
        for a, b, score in zip(stsb.sentences1, stsb.sentences2, stsb.scores, strict=True):
            if score >= 4.0 and written < count:
                f.write(json.dumps({"anchor": a, "positive": b}) + "\n")
                written += 1
    return written


def run_mine_bench(
    model: str, backend: str | None, corpus: int, pairs: int, num_negatives: int
) -> dict[str, Any]:
    """Time and peak RSS of mining ``num_negatives`` negatives a pair from ``corpus`` texts."""
    from finesim.models.encoder import Encoder

    encoder = Encoder(model, backend=backend)  # any export happens here, not in the child
    dim, used = encoder.dim, encoder.backend
    del encoder
    with tempfile.TemporaryDirectory(prefix="finesim-mine-") as tmp:
        folder = Path(tmp)
        write_lines(folder / "corpus.txt", corpus)
        n_pairs = write_pairs(folder / "pairs.jsonl", pairs)
        command = [sys.executable, "-m", "finesim", "mine", "negatives", "-m", model]
        command += ["--pairs", str(folder / "pairs.jsonl"), "--corpus", str(folder / "corpus.txt")]
        command += ["--out", str(folder / "triples.jsonl"), "--num-negatives", str(num_negatives)]
        if backend:
            command += ["--backend", backend]
        child, seconds, peak, samples, messages = run_child(command, folder / "log", 2.0)
        if child.returncode != 0:
            raise FinesimError(f"finesim mine negatives failed: {messages.strip()[-500:]}")
        with (folder / "triples.jsonl").open(encoding="utf-8") as f:
            triples = sum(1 for _ in f)
    vectors_mb = (corpus + n_pairs) * dim * 4 / 2**20
    return {
        "benchmark": "mine",
        "model": model,
        "backend": used,
        "corpus_texts": corpus,
        "pairs": n_pairs,
        "num_negatives": num_negatives,
        "triples": triples,
        "seconds": round(seconds, 1),
        "texts_per_s": round((corpus + n_pairs) / seconds, 1),
        "peak_rss_mb": peak,
        "corpus_vectors_mb": round(vectors_mb, 3),
        "rss_samples_mb": samples,
        "timing": "the whole child process: start, model load, encoding corpus and positives, "
        "faiss index, chunked search, writing the triples",
        "machine": machine_summary(),
    }
