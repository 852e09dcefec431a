"""``finesim.evaluate``: one entry point for every benchmark finesim knows."""

from __future__ import annotations

import os
from typing import Any

from finesim._util.errors import FinesimError
from finesim.models.encoder import Encoder


def evaluate(
    model: Encoder | str | os.PathLike[str], task: str = "sts", **options: Any
) -> dict[str, Any]:
    """Evaluate ``model`` (an Encoder, a name or a folder) on ``task``.

    ``sts`` takes ``tasks``, ``split``, ``variant``; ``csfcube`` takes ``scoring``, ``split``;
    ``beir`` takes ``data_dir``, ``split``. Every result has ``primary`` and ``score``.
    """
    encoder = model if isinstance(model, Encoder) else Encoder(model)
    if task == "sts":
        from finesim.evaluation.sts import evaluate_sts

        return evaluate_sts(encoder, **options)
    if task == "csfcube":
        from finesim.evaluation.csfcube import evaluate_csfcube

        result = evaluate_csfcube(encoder, **options)
        result.pop("rankings", None)
        return result
    if task == "beir":
        from finesim.evaluation.retrieval import run_beir

        return run_beir(encoder, **options)
    raise FinesimError(f"unknown task {task!r}; one of sts, csfcube, beir")
