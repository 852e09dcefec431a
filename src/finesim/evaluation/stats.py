"""Confidence intervals and paired tests: the one place every evaluation figure gets its
uncertainty (CSFCube, BEIR, STS, the ablation, ``--cv`` and ``finesim report compare``).

Why: a MAP over CSFCube's 50 query-facets has a standard error of about 3 points, so a figure
or a difference printed alone says little. Intervals are percentile bootstraps
(``scipy.stats.bootstrap``) over the units a figure averages: queries, or sentence pairs. A
figure that is a mean of fold means (CSFCube's two-fold test) resamples each fold on its own
(a stratified bootstrap), so the resampled figure is built as the reported one is. Two
systems on the same queries are compared by a paired randomisation test
(``scipy.stats.permutation_test``: each query's two figures swapped at random, two-sided, as
trec_eval-style comparisons do) and the bootstrap interval of the paired difference. Seeds are
fixed: a rerun prints the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

LEVEL = 0.95
SEED = 0
RESAMPLES = 10_000  # over queries: tens to thousands of values, cheap
PAIR_RESAMPLES = 1_000  # over sentence pairs: every resample re-ranks thousands of pairs

INTERVAL_METHOD = (
    "95% percentile bootstrap over queries (10,000 resamples; each fold resampled on its own "
    "when the figure is a mean of fold means) or over sentence pairs (1,000), seed 0"
)
TEST_METHOD = (
    "paired randomisation test over the same queries (each query's two figures swapped at "
    "random; sentence pairs: the two systems' ranks swapped), two-sided, 10,000 resamples "
    "(pairs: 1,000), seed 0; interval: paired bootstrap of the difference"
)


def _rng(offset: int = 0) -> np.random.Generator:
    return np.random.default_rng(SEED + offset)


def _mean_of_means(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean([s.mean(axis=axis) for s in samples], axis=0)


def mean_interval(
    strata: Sequence[Sequence[float] | np.ndarray], resamples: int = RESAMPLES
) -> list[float] | None:
    """95% interval of the mean of the strata's means (one stratum: of its mean); each stratum
    is resampled on its own. None when a stratum has fewer than two values (no spread)."""
    samples = tuple(np.asarray(s, dtype=np.float64) for s in strata)
    if not samples or any(s.size < 2 for s in samples):
        return None
    if all(np.ptp(s) == 0 for s in samples):  # nothing varies: the interval is the figure
        value = float(_mean_of_means(*samples))
        return [value, value]
    result = scipy_stats.bootstrap(
        samples,
        _mean_of_means,
        n_resamples=resamples,
        confidence_level=LEVEL,
        method="percentile",
        vectorized=True,
        batch=1000,
        rng=_rng(),
    )
    interval = result.confidence_interval
    return [float(interval.low), float(interval.high)]


def paired_test(
    a: Sequence[Sequence[float] | np.ndarray],
    b: Sequence[Sequence[float] | np.ndarray],
    resamples: int = RESAMPLES,
) -> dict[str, Any]:
    """``a`` minus ``b`` on the same queries: per stratum (fold), the two systems' figures in
    the same query order. The difference is the mean of the strata's mean differences (as the
    figures themselves), with its bootstrap interval and a two-sided randomisation p-value."""
    xs = [np.asarray(s, dtype=np.float64) for s in a]
    ys = [np.asarray(s, dtype=np.float64) for s in b]
    if [x.shape for x in xs] != [y.shape for y in ys]:
        raise ValueError("a paired test needs the same queries on both sides")
    diffs = [x - y for x, y in zip(xs, ys, strict=True)]
    difference = float(_mean_of_means(*diffs))
    out: dict[str, Any] = {
        "difference": difference,
        "ci95": mean_interval(diffs, resamples),
        "p_value": 1.0,
        "n": int(sum(d.size for d in diffs)),
    }
    d = np.concatenate(diffs)
    if not np.any(d):
        return out  # identical figures on every query: nothing to test
    # each query weighs 1 / (strata x its stratum's size): the statistic is the difference
    weights = np.concatenate([np.full(s.size, 1.0 / (len(diffs) * s.size)) for s in diffs])

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum((x - y) * weights, axis=axis)

    test = scipy_stats.permutation_test(
        (np.concatenate(xs), np.concatenate(ys)),
        statistic,
        permutation_type="samples",
        vectorized=True,
        n_resamples=resamples,
        alternative="two-sided",
        batch=1000,
        rng=_rng(),
    )
    out["p_value"] = float(test.pvalue)
    return out


def _pearson(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x - x.mean(axis=axis, keepdims=True)
    y = y - y.mean(axis=axis, keepdims=True)
    denominator = np.sqrt((x * x).sum(axis=axis) * (y * y).sum(axis=axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((x * y).sum(axis=axis) / denominator)


def _spearman(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    rank = scipy_stats.rankdata
    return _pearson(rank(x, axis=axis), rank(y, axis=axis), axis=axis)


def correlation_bootstrap(
    gold: np.ndarray, predicted: np.ndarray, resamples: int = PAIR_RESAMPLES, stream: int = 0
) -> np.ndarray | None:
    """Resampled (Spearman, Pearson) x100 of ``predicted`` against ``gold``, pairs drawn with
    replacement: shape (2, resamples); None under three pairs. ``stream`` picks the random
    stream (SEED + stream): independent tasks whose resamples are averaged need their own."""
    gold = np.asarray(gold, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if gold.size < 3:
        return None

    def both(g: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
        return 100 * np.stack([_spearman(g, p, axis), _pearson(g, p, axis)])

    result = scipy_stats.bootstrap(
        (gold, predicted),
        both,
        paired=True,
        n_resamples=resamples,
        confidence_level=LEVEL,
        method="percentile",
        vectorized=True,
        batch=250,
        rng=_rng(stream),
    )
    return np.asarray(result.bootstrap_distribution)


def percentile_interval(distribution: np.ndarray) -> list[float] | list[list[float]]:
    """The 95% percentile interval of a bootstrap distribution (last axis: the resamples)."""
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.nanpercentile(distribution, [tail, 100 - tail], axis=-1)
    if np.ndim(low) == 0:
        return [float(low), float(high)]
    return [[float(lo), float(hi)] for lo, hi in zip(low, high, strict=True)]


def correlation_comparison(
    gold: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int = PAIR_RESAMPLES
) -> dict[str, Any]:
    """Spearman (x100) of ``a`` minus that of ``b`` against the same ``gold`` pairs: the
    difference, its paired bootstrap interval and a randomisation p-value (each pair's two
    systems' ranks swapped at random; ranks, so both systems' scores are on one scale)."""
    gold, a, b = (np.asarray(v, dtype=np.float64) for v in (gold, a, b))
    if not gold.shape == a.shape == b.shape:
        raise ValueError("a paired test needs the same sentence pairs on both sides")
    difference = float(100 * (_spearman(gold, a) - _spearman(gold, b)))
    out: dict[str, Any] = {"difference": difference, "ci95": None, "p_value": 1.0, "n": gold.size}
    if gold.size < 3 or np.array_equal(a, b):
        return out

    def delta(g: np.ndarray, x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return 100 * (_spearman(g, x, axis) - _spearman(g, y, axis))

    boot = scipy_stats.bootstrap(
        (gold, a, b),
        delta,
        paired=True,
        n_resamples=resamples,
        method="percentile",
        vectorized=True,
        batch=250,
        rng=_rng(),
    )
    out["ci95"] = [float(boot.confidence_interval.low), float(boot.confidence_interval.high)]
    ranks_a = scipy_stats.rankdata(a) / a.size
    ranks_b = scipy_stats.rankdata(b) / b.size

    def swapped(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return 100 * (_spearman(gold, x, axis) - _spearman(gold, y, axis))

    test = scipy_stats.permutation_test(
        (ranks_a, ranks_b),
        swapped,
        permutation_type="samples",
        vectorized=True,
        n_resamples=resamples,
        alternative="two-sided",
        batch=250,
        rng=_rng(),
    )
    out["p_value"] = float(test.pvalue)
    return out


def with_interval(value: float, interval: Sequence[float] | None, signed: bool = False) -> str:
    """``43.52 [38.71, 48.40]`` (``signed``: ``+3.73 [+1.62, +5.86]``) for printed tables."""
    form = "{:+.2f}" if signed else "{:.2f}"
    if interval is None:
        return form.format(value)
    low, high = interval
    return f"{form.format(value)} [{form.format(low)}, {form.format(high)}]"


def p_text(p: float) -> str:
    """A p-value as printed: three significant digits, ``< 0.001`` below that."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def difference_text(test: dict[str, Any]) -> str:
    """A paired test as printed: ``+3.73 [+0.84, +6.39], p = 0.011``."""
    interval = with_interval(test["difference"], test["ci95"], signed=True)
    return f"{interval}, {p_text(test['p_value'])}"
