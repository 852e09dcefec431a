"""Learned fusion: the weights of a hybrid preset fitted on judged queries.

Why: choosing among a grid of hand-set weights by dev MAP uses each dev query as one number;
a pairwise model uses every judged pair of candidates of every dev query (thousands), so it
can weigh a dozen terms without the grid's combinatorics. Per query, each term's scores are
turned into z-scores (what ``zscore`` fusion does); a logistic regression without intercept
learns ``w`` such that ``w . (z_a - z_b) > 0`` when candidate a has a higher grade than b
(RankNet with a linear scorer). The result is an ordinary ``zscore`` preset, so it runs
wherever presets run. Only the queries handed to ``fit_fusion`` are read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from finesim.fusion.fuse import standardise
from finesim.fusion.preset import Preset

# Inverse L2 strength of the logistic regression. Fixed, not tuned on CSFCube's test queries;
# on mpnet's dev-fitted folds the two-fold test MAP moved by 0.1 between 0.01 and 1.
C = 0.1


def pair_features(
    table: Mapping[str, np.ndarray], grades: Sequence[int], terms: Sequence[str]
) -> np.ndarray:
    """Differences of z-scored term vectors for each pair (a, b) with grade a > grade b."""
    z = np.stack([standardise(np.asarray(table[t], dtype=np.float64)) for t in terms], axis=1)
    g = np.asarray(grades)
    better, worse = np.nonzero(g[:, None] > g[None, :])
    return z[better] - z[worse]


def fit_fusion(
    tables: Mapping[str, Mapping[str, np.ndarray]],
    grades: Mapping[str, Sequence[int]],
    keys: Sequence[str],
    terms: Sequence[str],
    *,
    c: float = C,
    name: str = "learned",
) -> Preset:
    """A ``zscore`` preset whose weights are fitted on the judged pools of ``keys`` only."""
    from sklearn.linear_model import LogisticRegression

    pairs = np.concatenate(
        [np.zeros((0, len(terms)))] + [pair_features(tables[k], grades[k], terms) for k in keys]
    )
    if not len(pairs):
        raise ValueError("no judged pair with different grades among the queries given")
    # both orientations, so the two classes are balanced and the model needs no intercept
    x = np.concatenate([pairs, -pairs])
    y = np.r_[np.ones(len(pairs)), np.zeros(len(pairs))]
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000).fit(x, y)
    weights = {t: round(float(w), 4) for t, w in zip(terms, model.coef_[0], strict=True)}
    if not any(w > 0 for w in weights.values()):
        raise ValueError("the fitted fusion gives no term a positive weight")
    note = {"fitted_on_queries": len(keys), "pairs": int(len(pairs)), "c": c}
    return Preset(weights, "zscore", name=name, note=note)
