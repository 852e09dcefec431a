"""The index search against exhaustive scoring on all 4,205 CSFCube papers (min-l2, minilm).

Uses minilm's embeddings from finesim's embedding cache (about 20 s when cached; encoding
29,197 sentences first takes minutes on two cores). The full table over scorers and budgets
is `finesim bench agreement`, committed under benchmarks/search/.
"""

import pytest

from finesim import Encoder
from finesim.bench.agreement import agreement
from tests.helpers import require_data

pytestmark = pytest.mark.slow


def test_index_finds_the_exhaustive_top_100_for_every_query_facet():
    require_data("csfcube", "evaluation_splits.json")
    result = agreement(Encoder("minilm"), scorings=["min-l2"], budgets=[100], kind="flat")
    assert result["corpus_papers"] == 4205 and result["query_facets"] == 50
    figures = result["scorings"]["min-l2"]["candidates=100"]
    assert figures["min_recall"] >= 0.98
    assert figures["query_facets_at_or_above_0.98"] == 50
