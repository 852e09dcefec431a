import numpy as np
import pytest

from finesim import Document
from finesim.evaluation.geometry import alignment, anisotropy, sample_texts, uniformity


def test_known_values_on_constructed_vectors():
    same = np.tile([[3.0, 4.0]], (10, 1))
    assert anisotropy(same) == pytest.approx(1.0)
    assert anisotropy(np.eye(5)) == pytest.approx(0.0)
    antipodes = np.array([[1.0, 0.0], [-2.0, 0.0]])
    assert anisotropy(antipodes) == pytest.approx(-1.0)
    assert alignment(same, same * 7) == pytest.approx(0.0)  # scale does not matter
    assert alignment(antipodes[:1], antipodes[1:]) == pytest.approx(4.0)
    assert alignment(np.eye(2), np.eye(2)[::-1]) == pytest.approx(2.0)  # orthogonal: |d|^2 = 2
    assert uniformity(antipodes) == pytest.approx(-8.0)  # log exp(-2 * 4)
    assert uniformity(same) == pytest.approx(0.0)
    # three orthonormal vectors: every pair at squared distance 2
    assert uniformity(np.eye(3)) == pytest.approx(-4.0)


def test_sampled_anisotropy_is_close_to_exact():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 8)) + 1.5
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    exact = (unit @ unit.T)[np.triu_indices(400, 1)].mean()
    assert anisotropy(x, pairs=50_000) == pytest.approx(exact, abs=0.01)


def test_positive_pairs_come_from_one_abstract():
    docs = [Document(f"d{i}", [f"s{i}a", f"s{i}b", f"s{i}c"], None, f"t{i}") for i in range(5)]
    sentences, pairs = sample_texts(docs, sentences=4, pairs=3, seed=0)
    assert len(sentences) == 4 and len(pairs) == 3
    assert all(a != b and a[:2] == b[:2] for a, b in pairs)
