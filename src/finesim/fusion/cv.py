"""Two-fold selection on dev queries, report on test queries (CSFCube's protocol).

Why a module of its own: anything chosen from relevance judgments (fusion weights, whitening
dimension, ...) must be chosen on fold N's dev queries and reported on fold N's test queries
only. ``choose`` is handed the dev queries' figures and nothing else, so it cannot peek; the
test figure of a group is the mean of the two folds' test means, as ``score_rankings`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from finesim.fusion.preset import Preset

FOLDS = ("fold1", "fold2")

# config name -> query key -> metric -> value
PerQuery = Mapping[str, Mapping[str, Mapping[str, float]]]


def only(per_query: PerQuery, keys: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """The figures of ``keys`` alone, for every config (what a selection may look at)."""
    out = {}
    for config, queries in per_query.items():
        missing = [k for k in keys if k not in queries]
        if missing:
            raise ValueError(f"config {config!r} has no figures for {missing[0]}")
        out[config] = {k: dict(queries[k]) for k in keys}
    return out


SELECT_METRIC = "map+ndcg%20"


def value_of(figures: Mapping[str, float], metric: str) -> float:
    """One query's ``metric``; ``a+b`` is the mean of metrics a and b (e.g. ``map+ndcg%20``,
    the two figures CSFCube reports: choosing on both is steadier on ~25 dev queries than
    either alone)."""
    names = metric.split("+")
    missing = [m for m in names if m not in figures]
    if missing:
        raise ValueError(f"unknown metric {missing[0]!r}; have {', '.join(figures)}")
    return float(np.mean([figures[m] for m in names]))


def choose(dev: PerQuery, metric: str = SELECT_METRIC) -> str:
    """The config with the best mean ``metric`` over the queries given (first one on ties)."""
    if not dev:
        raise ValueError("nothing to choose from")
    best, best_value = "", -np.inf
    for config, queries in dev.items():
        value = float(np.mean([value_of(q, metric) for q in queries.values()]))
        if value > best_value + 1e-12:
            best, best_value = config, value
    return best


def cross_validate(
    per_query: PerQuery,
    splits: Mapping[str, Mapping[str, Sequence[str]]],
    *,
    metric: str = SELECT_METRIC,
    select_on: str = "all",
    groups: Sequence[str] = ("background", "method", "result", "all"),
) -> dict[str, Any]:
    """Choose a config per fold on ``select_on``'s dev queries, score it on that fold's test
    queries of every group; the group's figure is the mean of the two fold means (x as given).
    """
    same = dict.fromkeys(FOLDS, per_query)
    return cross_validate_folds(same, splits, metric=metric, select_on=select_on, groups=groups)


def cross_validate_folds(
    per_fold: Mapping[str, PerQuery],
    splits: Mapping[str, Mapping[str, Sequence[str]]],
    *,
    metric: str = SELECT_METRIC,
    select_on: str = "all",
    groups: Sequence[str] = ("background", "method", "result", "all"),
) -> dict[str, Any]:
    """``cross_validate`` where each fold has figures of its own (``per_fold[fold]``: e.g. a
    term scored by a model trained on that fold's dev queries): fold N chooses on, and is
    reported from, ``per_fold[N]`` alone."""
    chosen: dict[str, str] = {}
    dev_scores: dict[str, float] = {}
    for fold in FOLDS:
        dev_keys = list(splits[select_on][f"{fold}_dev"])
        test_keys = set(splits[select_on][f"{fold}_test"])
        overlap = test_keys.intersection(dev_keys)
        if overlap:
            raise ValueError(f"{fold}: dev and test share queries, e.g. {sorted(overlap)[0]}")
        dev = only(per_fold[fold], dev_keys)
        chosen[fold] = choose(dev, metric)
        dev_scores[fold] = float(np.mean([value_of(q, metric) for q in dev[chosen[fold]].values()]))
    result: dict[str, Any] = {"chosen": chosen, "dev": dev_scores}
    for group in groups:
        fold_means = []
        for fold in FOLDS:
            test = only(per_fold[fold], splits[group][f"{fold}_test"])[chosen[fold]]
            names = next(iter(test.values())).keys()
            fold_means.append({m: float(np.mean([q[m] for q in test.values()])) for m in names})
        result[group] = {m: float(np.mean([f[m] for f in fold_means])) for m in fold_means[0]}
    return result


def fit_per_fold(
    tables: Mapping[str, Mapping[str, np.ndarray]],
    grades: Mapping[str, Sequence[int]],
    splits: Mapping[str, Mapping[str, Sequence[str]]],
    terms: Sequence[str],
    *,
    c: float | None = None,
    select_on: str = "all",
    per_fold: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]] | None = None,
) -> dict[str, tuple[Preset, list[str]]]:
    """Per fold, fusion weights fitted (``finesim.fusion.learn``) on that fold's dev queries'
    judged pairs only, and the test queries they are to rank. ``per_fold``: each fold's own
    tables (fold N is fitted on ``per_fold[N]``), instead of ``tables`` for both."""
    from finesim.fusion.learn import C, fit_fusion

    out = {}
    for fold in FOLDS:
        dev = list(splits[select_on][f"{fold}_dev"])
        test = list(splits[select_on][f"{fold}_test"])
        if set(test).intersection(dev):
            raise ValueError(f"{fold}: dev and test share queries")
        table = per_fold[fold] if per_fold is not None else tables
        preset = fit_fusion(
            table, grades, dev, terms, c=C if c is None else c, name=f"learned-{fold}"
        )
        out[fold] = (preset, test)
    return out
