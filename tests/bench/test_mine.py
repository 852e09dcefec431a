"""``finesim bench mine`` end to end on the tiny model and a small corpus (no timed asserts)."""

from __future__ import annotations

from pathlib import Path

from finesim.bench.mine import run_mine_bench
from tests.helpers import require_data


def test_mine_bench_mines_every_pair_in_a_child_and_reports_its_memory(tiny_st: Path) -> None:
    require_data("sts")
    result = run_mine_bench(str(tiny_st), None, corpus=300, pairs=12, num_negatives=2)
    assert result["pairs"] == 12 and result["triples"] == 24
    assert result["corpus_texts"] == 300 and result["backend"] == "torch"
    assert result["peak_rss_mb"] > 50 and result["seconds"] > 0
    assert result["corpus_vectors_mb"] > 0 and "vector_extensions" in result["machine"]
