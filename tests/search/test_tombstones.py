"""Tombstones: which sentences faiss may return, which positions a ranking leaves out, and
when compaction is advised."""

import numpy as np

from finesim.search.tombstones import COMPACT_SHARE, Tombstones, advice


def test_the_selector_keeps_exactly_the_live_papers_sentences():
    doc_start = np.array([0, 3, 4, 4, 9, 12])  # five papers, the third without sentences
    tombstones = Tombstones(np.array([3, 0, 3, 2]))
    assert tombstones.positions.tolist() == [0, 2, 3] and len(tombstones) == 3
    selector = tombstones.selector(doc_start)
    assert [i for i in range(12) if selector.is_member(i)] == [3, 9, 10, 11]
    assert tombstones.selector(doc_start) is selector  # built once
    assert tombstones.selector(np.r_[doc_start, 14]) is not selector  # papers were added
    assert Tombstones().selector(doc_start) is None


def test_live_positions_and_what_a_ranking_leaves_out():
    tombstones = Tombstones(np.array([1, 4])).added([2])
    assert tombstones.live(6).tolist() == [0, 3, 5]
    assert tombstones.left_out(None).tolist() == [1, 2, 4]
    assert tombstones.left_out(0).tolist() == [0, 1, 2, 4]
    assert Tombstones().left_out(3) == 3 and Tombstones().left_out(None) is None


def test_compaction_is_advised_past_a_share_of_deleted_papers():
    nothing = {"deleted": 0, "share": 0.0, "worthwhile": False, "why": "nothing deleted"}
    assert advice(10, 0) == advice(0, 0) == nothing
    assert not advice(90, 10)["worthwhile"] and "10%" in advice(90, 10)["why"]
    at = int(COMPACT_SHARE * 100)
    assert advice(100 - at, at)["worthwhile"] and not advice(101 - at, at - 1)["worthwhile"]
    assert "finesim index compact" in advice(1, 3)["why"] and advice(1, 3)["share"] == 0.75
