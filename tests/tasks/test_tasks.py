import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from finesim import Encoder, FinesimError
from finesim.models.heads import LinearHead, accuracy, macro_f1, split_by_group
from finesim.tasks.classify import predict, train_classifier
from finesim.tasks.paraphrase import mine_paraphrases


def brute_force(vectors, top_k, threshold):
    x = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    pairs = {}
    for i in range(len(x)):
        for j in np.argsort(-sims[i], kind="stable")[:top_k]:
            if threshold is None or sims[i, j] >= threshold:
                key = (min(i, int(j)), max(i, int(j)))
                pairs[key] = float(sims[i, j])
    return sorted(((s, i, j) for (i, j), s in pairs.items()), key=lambda p: (-p[0], p[1], p[2]))


@pytest.mark.parametrize(
    ("chunk", "top_k", "threshold"), [(7, 3, None), (100, 1, 0.2), (5, 50, 0.0)]
)
def test_paraphrase_mining_in_chunks_equals_brute_force(chunk, top_k, threshold):
    vectors = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    got = mine_paraphrases(vectors, top_k=top_k, threshold=threshold, chunk=chunk)
    want = brute_force(vectors, top_k, threshold)
    assert [(i, j) for _, i, j in got] == [(i, j) for _, i, j in want]
    np.testing.assert_allclose([s for s, _, _ in got], [s for s, _, _ in want], atol=1e-5)
    assert len(mine_paraphrases(vectors, top_k=3, chunk=chunk, max_pairs=4)) == 4
    assert mine_paraphrases(vectors[:1]) == []


def test_linear_head_matches_sklearn_for_two_and_three_classes(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 5))
    for n_classes in (2, 3):
        y = [str(int(v)) for v in (x[:, 0] * 2 + x[:, 1] > 0) + (x[:, 2] > 1) * (n_classes - 2)]
        head = LinearHead.fit(x, y, c=1.0)
        model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
        np.testing.assert_allclose(head.scores(x), model.predict_proba(x), atol=1e-4)
        head.save(tmp_path / f"h{n_classes}")
        assert LinearHead.load(tmp_path / f"h{n_classes}").predict(x) == list(model.predict(x))
    with pytest.raises(FinesimError, match="two different labels"):
        LinearHead.fit(x, ["a"] * len(x))


def test_metrics_and_split():
    assert accuracy(["a", "b", "b"], ["a", "b", "a"]) == pytest.approx(2 / 3)
    assert macro_f1(["a", "b", "b"], ["a", "b", "a"]) == pytest.approx((2 / 3 + 2 / 3) / 2)
    held = split_by_group([f"p{i}" for i in range(10)], 0.3, seed=0)
    assert len(held) == 3 and held == split_by_group([f"p{i}" for i in range(10)], 0.3, seed=0)
    with pytest.raises(FinesimError):
        split_by_group(["a", "b"], 1.5, 0)


def test_classifier_train_predict_refuses_other_model(tiny_st, tiny_bert):
    texts = [f"the {w} plays the guitar" for w in ("man", "woman", "cat", "dog")] * 5
    texts += [f"bank rates {w} very fast" for w in ("rise", "fall", "not", "and")] * 5
    labels = ["music"] * 20 + ["finance"] * 20
    encoder = Encoder(tiny_st)
    head, report = train_classifier(encoder, texts, labels, test_fraction=0.25, seed=0)
    assert report["test_rows"] == 10 and report["accuracy"] >= 0.9
    predicted, probability = predict(head, encoder, ["a man plays the guitar", "bank rates rise"])
    assert predicted == ["music", "finance"] and (probability > 0.5).all()
    with pytest.raises(FinesimError, match="trained with model"):
        predict(head, Encoder(tiny_bert, pooling="cls"), ["x"])
