"""The hybrid branch of ``finesim eval csfcube`` (kept apart so cli/eval.py stays small)."""

from __future__ import annotations

from typing import Any

import typer

from finesim._util.errors import FinesimError


def parse_whitening(value: str) -> int | None | str:
    """``off``, ``all`` (None: every dimension) or a number of dimensions."""
    if value in ("off", "all"):
        return None if value == "all" else "off"
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise FinesimError(f"--whitening {value!r}: use off, all or a number of dimensions")


def parse_rerankers(value: str) -> dict[str, Any]:
    """``--rerank``: one cross-encoder (folder or name) for every query, or one per fold,
    ``fold1=DIR1,fold2=DIR2`` (fold N's trained on fold N's dev queries' judged pairs only)."""
    from finesim.evaluation.csfcube_rerank import one_for_all
    from finesim.fusion.cv import FOLDS
    from finesim.models.cross_encoder import CrossEncoder

    if "=" not in value:
        return one_for_all(CrossEncoder(value))
    named: dict[str, str] = {}
    for part in value.split(","):
        fold, _, path = part.partition("=")
        fold, path = fold.strip(), path.strip()
        if fold not in FOLDS or not path:
            raise FinesimError(
                f"--rerank {value!r}: give MODEL, or {'=DIR,'.join(FOLDS)}=DIR (one per fold)"
            )
        if fold in named:
            raise FinesimError(f"--rerank {value!r}: {fold} is given twice")
        named[fold] = path
    missing = [f for f in FOLDS if f not in named]
    if missing:
        raise FinesimError(f"--rerank {value!r}: no reranker for {missing[0]}")
    loaded = {path: CrossEncoder(path) for path in dict.fromkeys(named.values())}
    return {fold: loaded[path] for fold, path in named.items()}


def csfcube_hybrid(
    encoder: Any,
    preset: str | None,
    whitening: str,
    cv: bool,
    split: str,
    batch_size: int,
    cache: bool,
    learn: bool,
    rerank: str | None = None,
) -> dict[str, Any]:
    """``--scoring hybrid [--preset P] [--whitening W]`` or ``--cv`` (which chooses both);
    ``--rerank`` scores the term ``rerank`` (with --cv, the grid and the fit weigh it)."""
    from finesim.evaluation.csfcube import split_folds
    from finesim.evaluation.csfcube_hybrid import (
        evaluate_cv,
        evaluate_hybrid,
        evaluate_learned,
    )
    from finesim.fusion.grid import standard_grid
    from finesim.fusion.preset import load_preset

    split_folds(split)  # a known split, or one line naming them
    if not cv:
        setting = parse_whitening(whitening)
        if isinstance(setting, int) and setting > encoder.dim:
            raise FinesimError(f"--whitening {setting}: the model has {encoder.dim} dimensions")
        chosen = load_preset(preset)
        rerankers = parse_rerankers(rerank) if rerank is not None else None
        return evaluate_hybrid(
            encoder, chosen, split, setting, batch_size, cache, rerankers=rerankers
        )
    if preset is not None or whitening != "off" or split != "test":
        raise FinesimError(
            "--cv chooses the preset and whitening itself on dev queries and "
            "reports test: leave out --preset, --whitening and --split"
        )
    rerankers = parse_rerankers(rerank) if rerank is not None else None
    if learn:
        result = evaluate_learned(encoder, batch_size=batch_size, cache=cache, rerankers=rerankers)
        for fold, choice in result["chosen"].items():
            weights = ", ".join(f"{t}={w:g}" for t, w in choice["preset"]["weights"].items())
            typer.echo(f"{fold}: fitted on its dev queries: {weights}", err=True)
    else:
        settings: list[int | None | str] = ["off", None, encoder.dim // 3]
        grid = standard_grid(rerank=rerankers is not None)
        result = evaluate_cv(
            encoder, grid, settings, batch_size=batch_size, cache=cache, rerankers=rerankers
        )
        for fold, choice in result["chosen"].items():
            typer.echo(
                f"{fold}: chose {choice['config']} "
                f"(dev {result['selection_metric']} {result['dev'][fold]:.2f})",
                err=True,
            )
    typer.echo(
        f"{'fitting' if learn else 'cross-validation'} took {result['seconds']:.1f} s", err=True
    )
    return result
