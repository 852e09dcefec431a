"""What the trainer does differently for a cross-encoder (``kind: cross`` in a recipe).

The loop, optimizer, schedule, checkpoints, resume, metrics and model cards are the trainer's
own; a cross-encoder brings its model (``CrossEncoder``: any encoder folder's transformer with
a fresh head of the loss's ``num_labels``, or a cross-encoder to go on training), its losses
(``finesim.losses.cross``, over the logits of scored pairs), one step (score the loss's pairs
in one pass, backpropagate) and its dev evaluators (``evaluation.cross``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from finesim._util.errors import FinesimError
from finesim.data.pairs import NLI_LABELS, Example
from finesim.losses.cross import CROSS_LOSSES
from finesim.models.cross_encoder import CrossEncoder
from finesim.training.config import TrainConfig

KINDS = ("bi", "cross")
# evaluators that would choose best/ on the pairs it is then reported on, and what to use
REFUSED_EVALUATORS = {
    "stsb-test": "stsb-test would choose best/ on the STS-B test pairs it is reported on; "
    "use stsb-dev",
    "snli-test": "snli-test would choose best/ on the SNLI test pairs it is reported on; "
    "use snli-dev (with training data other than snli-dev), or none",
}


def check_kind(config: TrainConfig) -> bool:
    """Whether the run trains a cross-encoder; refuses what a cross-encoder cannot run."""
    if config.kind not in KINDS:
        raise FinesimError(f"kind {config.kind!r}: one of {', '.join(KINDS)}")
    if config.kind != "cross":
        return False
    if config.loss not in CROSS_LOSSES:
        raise FinesimError(
            f"loss {config.loss!r} is not a cross-encoder loss; one of {', '.join(CROSS_LOSSES)}"
        )
    if config.mini_batch:
        raise FinesimError("mini_batch (GradCache) is for bi-encoders; set mini_batch=0")
    if config.matryoshka_dims or config.matryoshka_weights:
        raise FinesimError("matryoshka_dims: a cross-encoder has no vectors to truncate")
    return True


def build_loss(config: TrainConfig, num_classes: int = 0) -> nn.Module:
    """The loss the config names, with its arguments (``num_classes``: from the data, the
    default ``num_labels`` of cross-entropy)."""
    args = dict(config.loss_args)
    if config.loss == "cross-entropy" and num_classes:
        args.setdefault("num_labels", max(num_classes, 2))
    try:
        loss: nn.Module = CROSS_LOSSES[config.loss](**args)
    except (TypeError, ValueError) as e:
        raise FinesimError(f"loss_args for {config.loss}: {e}") from None
    return loss


def check_data(data: Sequence[Example], loss: nn.Module, config: TrainConfig) -> None:
    """Every example has the columns and labels the loss reads, in its range: a bad example
    is reported before the first step, not as a NaN hundreds of steps in."""
    columns: tuple[str, ...] = getattr(loss, "columns", ("anchor", "positive"))
    labelled = bool(getattr(loss, "labelled", True))
    bounds = loss.label_range()  # type: ignore[operator]
    for number, example in enumerate(data, start=1):
        where = example.where or f"{config.data or 'examples'}: example {number}"
        missing = [c for c in columns if c not in example.texts]
        if missing:
            raise FinesimError(f"{where}: no {missing[0]!r} text for loss {config.loss}")
        if labelled and example.label is None:
            raise FinesimError(f"{where}: loss {config.loss} needs a label")
        if bounds is None or example.label is None:
            continue
        low, high = bounds
        label = float(example.label)
        integral = config.loss != "cross-entropy" or label.is_integer()
        if not (low <= label <= high and integral):
            what = "a class id" if config.loss == "cross-entropy" else "a label"
            raise FinesimError(
                f"{where}: {what} {label:g} outside [{low:g}, {high:g}] for loss {config.loss}"
                + (" (set loss_args max_score)" if config.loss in ("bce", "mse") else "")
            )


def load_model(
    model: str, loss: nn.Module, config: TrainConfig, device: torch.device
) -> CrossEncoder:
    """The cross-encoder to train: ``model``'s transformer with a fresh head sized for the
    loss (drawn from the seeded generator), or a saved cross-encoder whose head must fit."""
    num_labels = int(getattr(loss, "num_labels", 1))
    cross = CrossEncoder(model, num_labels=num_labels, device=device)
    if cross.fresh_head and num_labels == len(NLI_LABELS) and config.format == "labelled":
        names = {i: name for name, i in NLI_LABELS.items()}  # the ids data.pairs reads
        cross.model.config.id2label = names
        cross.model.config.label2id = {name: i for i, name in names.items()}
    return cross


def backward(
    model: CrossEncoder,
    loss_fn: nn.Module,
    texts: Mapping[str, Sequence[str]],
    labels: torch.Tensor | None,
    max_length: int | None = None,
) -> float:
    """Score the pairs the loss makes of the batch (one pass, with a graph), compute the loss,
    backpropagate; return the loss."""
    pairs = loss_fn.pairs(texts)  # type: ignore[operator]
    logits = model.logits(pairs, max_length).view(len(texts["anchor"]), -1)
    loss: torch.Tensor = loss_fn(logits, labels)
    loss.backward()
    return float(loss.detach())


def build_evaluator(name: str, data: str) -> Callable[[CrossEncoder], dict[str, Any]] | None:
    """The evaluator that chooses ``best/``: STS-B dev Spearman (one-score models) or SNLI dev
    accuracy (three labels), never on the pairs trained on or reported on."""
    if not name:
        return None
    from finesim.evaluation.cross import CrossNLIEvaluator, CrossSTSEvaluator

    evaluators: dict[str, Callable[[], Callable[[CrossEncoder], dict[str, Any]]]] = {
        "stsb-dev": lambda: CrossSTSEvaluator("stsb", "dev"),
        "snli-dev": lambda: CrossNLIEvaluator("dev"),
    }
    if name in REFUSED_EVALUATORS:
        raise FinesimError(REFUSED_EVALUATORS[name])
    if name not in evaluators:
        raise FinesimError(f"unknown cross-encoder evaluator {name!r}; one of stsb-dev, snli-dev")
    if name == data:
        raise FinesimError(
            f"evaluator {name} would choose best/ on the training data ({data}); "
            "set evaluator='' or train on other data"
        )
    return evaluators[name]()
