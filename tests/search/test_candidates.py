import numpy as np

from finesim.search.ann import Ann
from finesim.search.candidates import by_mean_vector, by_nearest, owners, stage_one


def test_owners_maps_sentences_to_documents():
    starts = np.array([0, 2, 5, 6])
    assert owners(np.array([0, 1, 2, 4, 5, -1]), starts).tolist() == [0, 0, 1, 1, 2, -1]


def test_by_nearest_orders_documents_by_their_best_distance():
    distances = np.array([[0.1, 0.5, 0.9], [0.3, 0.4, 2.0]])
    docs = np.array([[4, 2, 4], [2, 7, 9]])
    found, best = by_nearest(distances, docs, docs >= 0)
    assert found.tolist() == [4, 2, 7, 9] and best.tolist() == [0.1, 0.3, 0.4, 2.0]


def test_mean_vector_is_exact_and_excludes():
    rng = np.random.default_rng(0)
    means = rng.standard_normal((50, 4))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    q = rng.standard_normal((3, 4))
    top = by_mean_vector(means, q, 5, exclude=None)
    expected = np.argsort(-(means @ q.mean(0)))[:5]
    assert top.tolist() == expected.tolist()
    assert expected[0] not in by_mean_vector(means, q, 5, exclude=int(expected[0])).tolist()


def test_min_l2_widens_until_budget_is_placed_exactly():
    # one document holds the 50 sentences nearest the query: a fixed per-sentence k of
    # 2 x budget would see only that document and miss the true second and third
    rng = np.random.default_rng(1)
    close = rng.normal(0, 0.01, (50, 4)).astype(np.float32)
    far = rng.standard_normal((30, 4)).astype(np.float32) + 3
    vectors = np.concatenate([close, far])
    starts = np.array([0, 50, *range(51, 81)])
    ann = Ann.create(4, "flat", "float32", len(vectors))
    ann.add(vectors)
    query = np.zeros((1, 4), dtype=np.float32)
    found = stage_one(ann, starts, np.zeros((31, 4)), query, "min-l2", 3)
    best = [np.linalg.norm(vectors[starts[d] : starts[d + 1]], axis=1).min() for d in range(31)]
    assert found.tolist() == np.argsort(best)[:3].tolist()
