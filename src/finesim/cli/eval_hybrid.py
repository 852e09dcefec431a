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


def csfcube_hybrid(
    encoder: Any,
    preset: str | None,
    whitening: str,
    cv: bool,
    split: str,
    batch_size: int,
    cache: bool,
    learn: bool,
) -> dict[str, Any]:
    """``--scoring hybrid [--preset P] [--whitening W]`` or ``--cv`` (which chooses both)."""
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
        return evaluate_hybrid(encoder, load_preset(preset), split, setting, batch_size, cache)
    if preset is not None or whitening != "off" or split != "test":
        raise FinesimError(
            "--cv chooses the preset and whitening itself on dev queries and "
            "reports test: leave out --preset, --whitening and --split"
        )
    if learn:
        result = evaluate_learned(encoder, batch_size=batch_size, cache=cache)
        for fold, choice in result["chosen"].items():
            weights = ", ".join(f"{t}={w:g}" for t, w in choice["preset"]["weights"].items())
            typer.echo(f"{fold}: fitted on its dev queries: {weights}", err=True)
    else:
        settings: list[int | None | str] = ["off", None, encoder.dim // 3]
        grid = standard_grid()
        result = evaluate_cv(encoder, grid, settings, batch_size=batch_size, cache=cache)
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
