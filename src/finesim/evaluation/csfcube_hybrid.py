"""Hybrid scoring and dev/test selection (``--cv``) on CSFCube.

Every term's raw scores are computed once per pool (and per whitening setting); fusing them
with a preset is then cheap, so ``--cv`` can try every candidate setting on the dev queries.
Whitening here is fitted on the corpus vectors alone (all sentences and whole texts of the
4,205 papers), never on judgments: the same fit ``finesim whiten`` saves into a model.

A figure is labelled test only when nothing was fitted or chosen on its queries: a preset
carries the query sets it was fitted on (``Preset.fitted_on``), and ``evaluate_hybrid``
reports the folds whose test queries it never saw as test and the others as ``seen``.
Every hybrid result is also compared, query by query, with the plain abstract cosine
(nothing fitted): ``vs_baseline``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.progress import progress_bar
from finesim._util.threads import one_thread
from finesim.data.csfcube import Paper, Pool, load_papers, load_pools, load_splits
from finesim.docsim import FACETS, Doc
from finesim.docsim.docs import facet_text as facet_sentences
from finesim.docsim.lexical import Bm25
from finesim.docsim.scoring import unit
from finesim.evaluation import csfcube_rerank as cr
from finesim.evaluation import stats
from finesim.evaluation.csfcube import (
    GROUPS,
    embed_papers,
    intervals,
    paired,
    pool_docs,
    ranked,
    score_rankings,
    split_folds,
)
from finesim.fusion.cv import FOLDS, SELECT_METRIC, cross_validate_folds, fit_per_fold
from finesim.fusion.fuse import fuse
from finesim.fusion.learn import C as LEARN_C
from finesim.fusion.preset import Preset
from finesim.fusion.terms import LEXICAL_TERMS, RERANK, TERMS, Candidates, Query, term_scores
from finesim.models.cache import EmbeddingCache, encode_cached
from finesim.models.encoder import Encoder
from finesim.models.whitening import fit_whitening

Tables = dict[str, dict[str, np.ndarray]]  # pool key -> term -> raw scores of its candidates
PerQuery = Mapping[str, Mapping[str, float]]

# the baseline every hybrid figure is compared with: one cosine, nothing fitted or chosen
BASELINE = Preset({"abstract": 1.0}, name="abstract")
BASELINE_NOTE = "plain abstract cosine (title + abstract, one vector): nothing fitted or chosen"


def whiten_docs(docs: Mapping[str, Doc], dim: int | None) -> tuple[dict[str, Doc], Any]:
    """Docs whose sentence and whole vectors are whitened (fit on all of them) and
    re-normalised; also returns the map (to whiten other vectors the same way)."""
    pids = list(docs)
    sizes = [len(docs[p].vectors) for p in pids]
    wholes = [p for p in pids if docs[p].whole is not None]
    stacked = [docs[p].vectors for p in pids] + [docs[p].whole[None, :] for p in wholes]  # type: ignore[index]
    fit = fit_whitening(np.concatenate(stacked), dim)

    def white(x: np.ndarray) -> np.ndarray:
        return unit(fit.apply(x))

    # one product for everything: thousands of small ones are slow on a busy machine
    everything = white(np.concatenate(stacked))
    sentence_rows = np.split(everything[: sum(sizes)], np.cumsum(sizes)[:-1])
    whole_of = dict(zip(wholes, everything[sum(sizes) :], strict=True))
    out = {
        p: Doc(rows, docs[p].labels, whole_of.get(p))
        for p, rows in zip(pids, sentence_rows, strict=True)
    }
    return out, white


def facet_text(paper: Paper, facet: str) -> str:
    """The paper's sentences of ``facet`` as one text (all of them if it has none)."""
    return facet_sentences(paper.sentences, paper.labels or None, facet)


def rank_fused(
    tables: Mapping[str, Mapping[str, np.ndarray]], pools: Sequence[Pool], preset: Preset
) -> dict[str, list[tuple[str, float]]]:
    """Rankings (best first, stable on ties) of every pool under ``preset``."""
    return {pool.key: ranked(pool, fuse(tables[pool.key], preset)) for pool in pools}


def build_tables(
    encoder: Encoder,
    whitening: Sequence[int | None | str],
    terms: Sequence[str] = TERMS,
    *,
    batch_size: int = 32,
    cache: bool | EmbeddingCache = True,
) -> tuple[list[Pool], dict[str, Tables]]:
    """Term tables per whitening setting (``"off"``, None = all dimensions, or k): CSFCube
    supplies each pool's query and candidates, ``finesim.fusion.terms`` scores them."""
    papers = load_papers()
    pools = [p for f in FACETS for p in load_pools(f)]
    base = embed_papers(
        encoder,
        papers,
        whole=True,
        batch_size=batch_size,
        cache=cache,
        query_pids=[p.qpid for p in pools],
    )
    bm25 = None
    if set(LEXICAL_TERMS) & set(terms):
        bm25 = Bm25({pid: p.text for pid, p in papers.items()})
    facet_vectors = None
    if "facet-text" in terms:
        texts = [facet_text(papers[p.qpid], p.facet) for p in pools]
        facet_vectors = encode_cached(
            encoder, texts, batch_size=batch_size, cache=cache, task="query"
        )
    titles = None
    if "title" in terms:
        pids = list(papers)
        vectors = encode_cached(
            encoder, [papers[p].title for p in pids], batch_size=batch_size, cache=cache
        )
        titles = dict(zip(pids, vectors, strict=True))
    out = {}
    for setting in whitening:
        docs: Mapping[str, Doc] = base
        white = None
        if setting != "off":
            docs, white = whiten_docs(base, None if setting is None else int(setting))
        facet_rows = facet_vectors
        if facet_vectors is not None and white is not None:
            facet_rows = white(facet_vectors)
        tables = {}
        with one_thread():  # small per-pool products (Sinkhorn for ot): threads only contend
            for i, pool in enumerate(pools):
                paper = papers[pool.qpid]
                query_doc, candidate_docs = pool_docs(docs, pool)
                query_title, candidate_titles = _pool_titles(titles, pool, white)
                query = Query(
                    query_doc,
                    text=paper.text,
                    facet_text=facet_text(paper, pool.facet),
                    facet_vector=None if facet_rows is None else facet_rows[i],
                    title=query_title,
                )
                candidates = Candidates(candidate_docs, pool.candidates, bm25, candidate_titles)
                tables[pool.key] = term_scores(query, candidates, terms, facet=pool.facet)
        out[whitening_name(setting)] = tables
    return pools, out


def _pool_titles(
    titles: Mapping[str, np.ndarray] | None, pool: Pool, white: Any
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The query paper's title vector and its candidates' (whitened like the rest)."""
    if titles is None:
        return None, None
    rows = np.stack([titles[pool.qpid], *(titles[c] for c in pool.candidates)])
    rows = rows if white is None else white(rows)
    return rows[0], rows[1:]


def whitening_name(setting: int | None | str) -> str:
    return "off" if setting == "off" else f"whiten-{'all' if setting is None else setting}"


def seen_folds(preset: Preset, folds: Sequence[str]) -> list[str]:
    """Those of ``folds`` holding a query that ``preset`` was fitted or chosen on (its
    ``fitted_on``: fold2_dev is fold1_test's queries, fold1_dev fold2_test's)."""
    splits = load_splits()["all"]
    seen: set[str] = set()
    for name in preset.fitted_on:
        benchmark, _, split = name.partition(":")
        if benchmark != "csfcube":
            continue
        if split not in splits:
            raise FinesimError(
                f"preset {preset.name!r}: fitted_on {name!r} is no CSFCube split; "
                f"use csfcube:{' or csfcube:'.join(splits)}"
            )
        seen.update(splits[split])
    return [f for f in folds if seen.intersection(splits[f])]


def _split_label(preset: Preset, test: Sequence[str], seen: Sequence[str]) -> str:
    """What the figures are, in words, when the preset has seen some of the queries."""
    fitted = ", ".join(preset.fitted_on)
    if not test:
        return (
            f"seen, not a test figure: preset {preset.name!r} was fitted on these queries "
            f"({fitted})"
        )
    return (
        f"{' + '.join(test)} only; {' + '.join(seen)} = the queries preset {preset.name!r} "
        f"was fitted on ({fitted}), reported as seen, not test"
    )


def evaluate_hybrid(
    encoder: Encoder,
    preset: Preset,
    split: str = "test",
    whitening: int | None | str = "off",
    batch_size: int = 32,
    cache: bool | EmbeddingCache = True,
    rerankers: cr.Rerankers | None = None,
) -> dict[str, Any]:
    """One preset, no selection: the figures ``score_rankings`` gives for its rankings.

    Folds whose queries the preset was fitted on (``preset.fitted_on``) are left out of the
    figures and reported under ``seen``; ``split`` then says which folds the figures are.
    ``rerankers`` (``finesim.evaluation.csfcube_rerank``) score the preset's term ``rerank``."""
    folds = split_folds(split)
    _check_rerankers([preset], rerankers, preset.name)
    cr.check_split(rerankers, folds)
    seen = seen_folds(preset, folds)
    clean = [f for f in folds if f not in seen]
    test = clean or folds  # every fold seen: the figures stay, labelled as seen
    terms = _encoder_terms([preset, BASELINE])
    settings = ["off"] if whitening == "off" else ["off", whitening]  # the baseline: unwhitened
    pools, tables = build_tables(encoder, settings, terms, batch_size=batch_size, cache=cache)
    white = whitening_name(whitening)
    by_fold = _by_fold({white: tables[white]}, pools, rerankers)
    if rerankers is None or cr.shared(rerankers):  # one table ranks every query
        rankings = rank_fused(by_fold[FOLDS[0]][white], pools, preset)
    else:  # each fold's reranker ranks its own test queries
        rankings = {}
        for fold in FOLDS:
            keys = set(load_splits()["all"][f"{fold}_test"])
            ranked_fold = rank_fused(
                by_fold[fold][white], [p for p in pools if p.key in keys], preset
            )
            rankings.update(ranked_fold)
    result: dict[str, Any] = {
        "model": encoder.source,
        "scoring": "hybrid",
        "split": _split_label(preset, clean, seen) if seen else split,
        "preset": preset.to_json(),
        "whitening": whitening_name(whitening),
        "fitted_on": list(preset.fitted_on),
    }
    if rerankers is not None:
        result["rerank"] = cr.describe(rerankers)
    result.update(score_rankings(rankings, folds=test))
    if seen and clean:
        part = score_rankings(rankings, folds=seen)
        result["seen"] = {
            "note": f"preset {preset.name!r} was fitted on these queries: not a test figure",
            **{k: part[k] for k in (*GROUPS, "folds", "ci95")},
        }
    compare_with_baseline(result, tables["off"], pools, test)
    result["primary"], result["score"] = "map", result["all"]["map"]
    result["rankings"] = rankings
    return result


def _encoder_terms(presets: Sequence[Preset]) -> list[str]:
    """The terms of ``presets`` that the encoder's tables hold (``rerank`` is added apart)."""
    return sorted({t for p in presets for t in p.terms if t != RERANK}, key=TERMS.index)


def _check_rerankers(presets: Sequence[Preset], rerankers: cr.Rerankers | None, name: str) -> None:
    if rerankers is not None:
        cr.check(rerankers)
        if not any(p.reranks for p in presets):
            raise FinesimError(
                f"--rerank: preset {name!r} does not weigh the term 'rerank' (add it to the "
                "preset's weights, or use --cv, which weighs it itself)"
            )
    elif any(p.reranks for p in presets):
        raise FinesimError(
            f"preset {name!r} weighs the term 'rerank': give a cross-encoder (--rerank MODEL, "
            "or one per fold: --rerank fold1=DIR,fold2=DIR)"
        )


def _by_fold(
    tables: Mapping[str, Tables], pools: Sequence[Pool], rerankers: cr.Rerankers | None
) -> dict[str, dict[str, Tables]]:
    """Each fold's tables: with its reranker's term ``rerank`` when there are rerankers (one
    object for folds that share one), else ``tables`` for both."""
    if rerankers is None:
        return dict.fromkeys(FOLDS, dict(tables))
    return cr.per_fold(tables, cr.rerank_columns(pools, rerankers))


def compare_with_baseline(
    result: dict[str, Any],
    table: Mapping[str, Mapping[str, np.ndarray]],
    pools: Sequence[Pool],
    folds: Sequence[str],
) -> None:
    """Add ``baseline`` (the plain abstract cosine's figures on the same queries) and
    ``vs_baseline`` (the result minus it, paired over queries) to ``result``."""
    base = score_rankings(rank_fused(table, pools, BASELINE), folds=folds)
    result["baseline"] = {
        "scoring": "abstract",
        "note": BASELINE_NOTE,
        **{k: base[k] for k in (*GROUPS, "folds", "ci95")},
    }
    result["vs_baseline"] = paired(result["per_query"], base["per_query"], folds)
    result["test_method"] = stats.TEST_METHOD


def score_settings(
    tables: Mapping[str, Tables], pools: Sequence[Pool], presets: Mapping[str, Preset]
) -> dict[str, dict[str, dict[str, float]]]:
    """Per-query figures of every ``whitening|preset`` setting (what ``--cv`` chooses from)."""
    out = {}
    with progress_bar(True, len(tables) * len(presets), "scoring settings") as advance:
        for white, table in tables.items():
            for name, preset in presets.items():
                ranked = rank_fused(table, pools, preset)
                out[f"{white}|{name}"] = score_rankings(ranked, with_intervals=False)["per_query"]
                if advance is not None:
                    advance(1)
    return out


def evaluate_cv(
    encoder: Encoder,
    candidates: Mapping[str, Preset],
    whitening: Sequence[int | None | str] = ("off",),
    *,
    metric: str = SELECT_METRIC,
    batch_size: int = 32,
    cache: bool | EmbeddingCache = True,
    rerankers: cr.Rerankers | None = None,
) -> dict[str, Any]:
    """Every (whitening, preset) pair scored on every query; one pair chosen per fold on that
    fold's dev queries ("all" facets together), reported on its test queries. ``rerankers``
    score the term ``rerank`` of the candidates that weigh it, each fold's its own pools."""
    started = time.time()
    _check_rerankers(list(candidates.values()), rerankers, "--cv grid")
    terms = _encoder_terms([*candidates.values(), BASELINE])
    pools, tables = build_tables(encoder, whitening, terms, batch_size=batch_size, cache=cache)
    by_fold = _by_fold(tables, pools, rerankers)
    scored: dict[int, Any] = {}  # folds sharing their tables share their figures
    for fold in FOLDS:
        if id(by_fold[fold]) not in scored:
            scored[id(by_fold[fold])] = score_settings(by_fold[fold], pools, candidates)
    per_fold = {fold: scored[id(by_fold[fold])] for fold in FOLDS}
    configs = {
        f"{white}|{name}": {"whitening": white, "preset": preset.to_json()}
        for white in tables
        for name, preset in candidates.items()
    }
    splits = load_splits()
    result = cross_validate_folds(per_fold, splits, metric=metric)
    chosen = result["chosen"]
    # what a submitted run holds: each test query ranked by its own fold's choice
    result["per_query"], result["rankings"] = {}, {}
    for fold, config in chosen.items():
        white, name = config.split("|", 1)
        rankings = rank_fused(by_fold[fold][white], pools, candidates[name])
        for key in splits["all"][f"{fold}_test"]:
            result["per_query"][key] = per_fold[fold][config][key]
            result["rankings"][key] = rankings[key]
    result["chosen"] = {fold: {"config": c, **configs[c]} for fold, c in chosen.items()}
    result.update(
        {
            "model": encoder.source,
            "scoring": "hybrid --cv",
            "split": "test (chosen on each fold's dev queries)",
            "selection_metric": metric,
            "candidates": len(configs),
            "seconds": time.time() - started,
        }
    )
    if rerankers is not None:
        result["rerank"] = cr.describe(rerankers)
    folds = split_folds("test")
    result["folds"] = folds
    result["ci95"] = intervals(result["per_query"], folds)
    result["ci95_method"] = stats.INTERVAL_METHOD
    if "off" in tables:
        compare_with_baseline(result, tables["off"], pools, folds)
    result["primary"], result["score"] = "map", result["all"]["map"]
    return result


def learned_rankings(
    table: Mapping[str, Mapping[str, np.ndarray]],
    pools: Sequence[Pool],
    terms: Sequence[str] = TERMS,
    c: float = LEARN_C,
    per_fold: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]] | None = None,
) -> tuple[dict[str, list[tuple[str, float]]], dict[str, dict[str, Any]]]:
    """Each fold's test queries ranked by fusion weights fitted on that fold's dev queries'
    judged pairs (``finesim.fusion.learn``); also the fitted presets per fold. ``per_fold``:
    each fold's own tables (its reranker's term ``rerank``) instead of ``table``."""
    grades = {p.key: p.grades for p in pools}
    rankings: dict[str, list[tuple[str, float]]] = {}
    chosen: dict[str, dict[str, Any]] = {}
    fitted = fit_per_fold(table, grades, load_splits(), terms, c=c, per_fold=per_fold)
    for fold, (preset, test) in fitted.items():
        own = per_fold[fold] if per_fold is not None else table
        rankings.update(rank_fused(own, [p for p in pools if p.key in set(test)], preset))
        preset = dataclasses.replace(preset, fitted_on=(f"csfcube:{fold}_dev",))
        chosen[fold] = {"config": "off|learned", "whitening": "off", "preset": preset.to_json()}
    return rankings, chosen


def evaluate_learned(
    encoder: Encoder,
    terms: Sequence[str] = TERMS,
    *,
    c: float = LEARN_C,
    batch_size: int = 32,
    cache: bool | EmbeddingCache = True,
    rerankers: cr.Rerankers | None = None,
) -> dict[str, Any]:
    """``--cv --learn``: ``learned_rankings`` scored as the protocol says. With
    ``rerankers`` the term ``rerank`` is fitted too, each fold's scored by its reranker."""
    started = time.time()
    base = [t for t in terms if t != RERANK]
    if rerankers is None and RERANK in terms:
        raise FinesimError("term 'rerank' needs a cross-encoder (--rerank MODEL)")
    pools, tables = build_tables(encoder, ["off"], base, batch_size=batch_size, cache=cache)
    per_fold = None
    if rerankers is not None:
        terms = [*base, RERANK]
        per_fold = {f: t["off"] for f, t in _by_fold(tables, pools, rerankers).items()}
    rankings, chosen = learned_rankings(tables["off"], pools, terms, c, per_fold)
    result: dict[str, Any] = {
        "model": encoder.source,
        "scoring": "hybrid --cv --learn",
        "split": "test (weights fitted on each fold's dev queries)",
        "chosen": chosen,
    }
    if rerankers is not None:
        result["rerank"] = cr.describe(rerankers)
    result.update(score_rankings(rankings))
    if "abstract" in terms:
        compare_with_baseline(result, tables["off"], pools, result["folds"])
    result["seconds"] = time.time() - started
    result["primary"], result["score"] = "map", result["all"]["map"]
    result["rankings"] = rankings
    return result
