"""The training loop, top to bottom: data, model, loss, optimizer, schedule, eval, checkpoint,
resume. A newcomer should be able to read one step of training here without opening other
files.

Output folder: ``last/`` (the latest checkpoint; after the run, the final model), ``best/``
(the best evaluation so far), ``metrics.jsonl`` and ``config.json``. Every folder is a
sentence-transformers model with its model card, ``README.md`` (``model_card``). A recipe of
``kind: cross`` trains a cross-encoder through the same loop (``training.cross``: its model,
losses, step and evaluators).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from finesim._util.atomic import atomic_path, recover_all
from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS
from finesim._util.progress import progress_bar
from finesim.data.classes import read_class_examples, save_classes
from finesim.data.pairs import Example, load_examples
from finesim.losses import LOSSES, MatryoshkaLoss, backward, cached_backward
from finesim.models.cross_encoder import CrossEncoder
from finesim.models.encoder import Encoder
from finesim.training import checkpoint, cross, distributed, model_card
from finesim.training.config import TrainConfig
from finesim.training.schedule import warmup_linear
from finesim.training.static import refuse_unsupervised_simcse

log = logging.getLogger(__name__)


def build_loss(config: TrainConfig, dim: int, num_classes: int = 0) -> nn.Module:
    """The loss module named by the config, with its arguments (``num_classes``: from the
    data, for the losses that keep a classifier or centres per class)."""
    if config.loss not in LOSSES:
        raise FinesimError(f"unknown loss {config.loss!r}; one of {', '.join(LOSSES)}")
    cls = LOSSES[config.loss]
    args = dict(config.loss_args)
    if config.loss in ("softmax", "infonce", "center"):
        args["dim"] = dim
    if config.loss == "center":
        args.setdefault("num_classes", num_classes)
    try:
        loss: nn.Module = cls(**args)
    except TypeError as e:
        raise FinesimError(f"loss_args for {config.loss}: {e}") from None
    if config.matryoshka_dims or config.matryoshka_weights:  # the loss on truncated vectors too
        loss = MatryoshkaLoss(loss, config.matryoshka_dims, config.matryoshka_weights, dim)
    return loss


# Evaluators that would choose ``best/`` on queries it is then reported on, and why not.
REFUSED_EVALUATORS = {
    "sts-test": "sts-test would choose best/ on the STS test sets it is reported on; choose on "
    "stsb-dev (STS-B dev) and run finesim eval sts on best/ afterwards",
    "csfcube-dev": "csfcube-dev would choose best/ on fold1_dev, which are fold 2's test "
    "queries, so best/'s two-fold test figure would have seen them; use csfcube-dev:fold1 "
    "(then report best/ on fold1_test only: finesim eval csfcube --split fold1_test), "
    "csfcube-dev:fold2, or stsb-dev",
}


def build_evaluator(name: str) -> Callable[[Encoder], dict[str, Any]] | None:
    """The evaluator that chooses ``best/``: on dev data only (STS-B dev, or one CSFCube fold's
    dev queries, after which the model may be reported on that fold's test queries only)."""
    if not name:
        return None
    from finesim.evaluation.csfcube import CSFCubeEvaluator
    from finesim.evaluation.sts import STSEvaluator

    evaluators: dict[str, Callable[[], Callable[[Encoder], dict[str, Any]]]] = {
        "stsb-dev": lambda: STSEvaluator("stsb", "dev"),
        "csfcube-dev:fold1": lambda: CSFCubeEvaluator("min-l2", "fold1_dev"),
        "csfcube-dev:fold2": lambda: CSFCubeEvaluator("min-l2", "fold2_dev"),
    }
    if name in REFUSED_EVALUATORS:
        raise FinesimError(REFUSED_EVALUATORS[name])
    if name not in evaluators:
        raise FinesimError(f"unknown evaluator {name!r}; one of {', '.join(evaluators)}")
    return evaluators[name]()


def _optimizer(config: TrainConfig, modules: list[nn.Module]) -> torch.optim.Optimizer:
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for module in modules:
        for name, p in module.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # fused: one kernel for all parameters (on CPU, 8 ms a step for MiniLM instead of 56)
    fused = all(p.device.type in ("cpu", "cuda") for p in decay + no_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr, fused=fused)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, fused=fused)
    raise FinesimError(f"unknown optimizer {config.optimizer!r}; use adamw or adam")


def _batch(examples: list[Example], index: torch.Tensor) -> tuple[dict[str, list[str]], Any]:
    chosen = [examples[int(i)] for i in index]
    texts = {role: [e.texts[role] for e in chosen] for role in chosen[0].texts}
    labels = None
    if chosen[0].label is not None:
        labels = torch.tensor([float(e.label) for e in chosen])  # type: ignore[arg-type]
    return texts, labels


def train(  # noqa: C901 - one readable loop on purpose (see the module docstring)
    config: TrainConfig,
    model: str,
    out: Path,
    *,
    resume: bool = False,
    examples: list[Example] | None = None,
    classes: Sequence[str] | None = None,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Train ``model`` as ``config`` says and write the result under ``out``.

    ``classes``: the label vocabulary of class-labelled ``examples`` (format ``classes``
    reads it from the file), saved with the model as ``classes.json``.
    """
    rank, world, device = distributed.setup()
    main = rank == 0
    if config.batch_size % world:
        raise FinesimError(f"batch_size {config.batch_size} must divide by {world} processes")
    if out.exists() and not resume and any(out.iterdir()):
        raise FinesimError(f"{out}: exists and is not empty; pass --resume or another --out")
    last = out / "last"
    if main:
        out.mkdir(parents=True, exist_ok=True)
        if resume:  # a checkpoint a crash left half-replaced, temp files of killed writes
            recover_all(out)
    distributed.barrier(world)

    # --- data, model, loss, optimizer, schedule -----------------------------------------
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    if examples is None and config.format == "classes":
        data, classes = read_class_examples(Path(config.data), config.columns)
    else:
        data = (
            examples
            if examples is not None
            else load_examples(config.data, config.format, config.columns)
        )
    num_classes = _num_classes(data, classes)
    encoder: Encoder | CrossEncoder
    if cross.check_kind(config):  # a cross-encoder: each pair scored in one pass
        loss_fn = cross.build_loss(config, num_classes)
        cross.check_data(data, loss_fn, config)
        encoder = cross.load_model(model, loss_fn, config, device)
    else:
        encoder = Encoder(model, device=device)
        refuse_unsupervised_simcse(encoder, data, config.format)  # a static model: no dropout
        loss_fn = build_loss(config, encoder.full_dim, num_classes)
    loss_fn = loss_fn.to(device)
    local = config.batch_size // world
    per_epoch = (
        len(data) // config.batch_size if world > 1 else math.ceil(len(data) / config.batch_size)
    )
    if per_epoch < 1:
        raise FinesimError(f"{len(data)} examples make no batch of {config.batch_size}")
    total = per_epoch * config.epochs
    if config.max_steps:
        total = min(total, config.max_steps)
    warmup = config.warmup_steps if config.warmup_steps >= 0 else int(config.warmup_ratio * total)
    optimizer = _optimizer(config, [encoder, loss_fn])
    scheduler = warmup_linear(optimizer, warmup, total)
    evaluator: Callable[[Any], dict[str, Any]] | None = None
    if main:
        evaluator = (
            cross.build_evaluator(config.evaluator, config.data)
            if isinstance(encoder, CrossEncoder)
            else build_evaluator(config.evaluator)
        )
    max_length = config.max_length or None
    params = [p for m in (encoder, loss_fn) for p in m.parameters() if p.requires_grad]
    card_data = model_card.describe_data(config.data, len(data)) if main else {}

    # --- resume -------------------------------------------------------------------------
    step, epoch, batch_in_epoch, best = 0, 0, 0, -math.inf
    best_eval: dict[str, Any] | None = None  # the evaluator's records, for the model cards
    last_eval: dict[str, Any] | None = None
    seconds_before = 0.0  # training time of the runs this one resumes
    if resume and checkpoint.found(last):
        state = checkpoint.load(last, encoder)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        loss_fn.load_state_dict(state["loss"])
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        best = state["best"]
        best_eval, last_eval = state.get("best_eval"), state.get("last_eval")
        seconds_before = state.get("seconds", 0.0)
        checkpoint.set_rng_state(
            state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0]
        )
        if main:
            log.info("resuming at step %d (epoch %d, batch %d)", step, epoch, batch_in_epoch)
    elif main:
        if resume:
            log.warning("--resume: no checkpoint in %s yet; starting at step 0", out)
        with atomic_path(out / "config.json") as tmp:
            tmp.write_text(json.dumps({"model": model, **dataclasses.asdict(config)}, indent=2))
    if main:
        _trim_metrics(out, step)

    def card(folder: Path, weights_step: int) -> model_card.Card:
        return model_card.Card(
            path=str(folder),
            base_model=model,
            config=config,
            data=card_data,
            step=weights_step,
            run_steps=step,
            total_steps=total,
            seconds=seconds_before + time.time() - started,
            best=best_eval,
            last=last_eval,
        )

    def save_checkpoint() -> None:
        states = _gather_rng(world)
        if main:
            checkpoint.save(
                last,
                encoder,
                {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "loss": loss_fn.state_dict(),
                    "step": step,
                    "epoch": epoch,
                    "batch_in_epoch": batch_in_epoch,
                    "best": best,
                    "best_eval": best_eval,
                    "last_eval": last_eval,
                    "seconds": seconds_before + time.time() - started,
                    "rng": states,
                },
                card(last, step),
            )
        distributed.barrier(world)

    def evaluate() -> None:
        nonlocal best, best_eval, last_eval
        if evaluator is not None:
            encoder.eval()
            result = evaluator(encoder)
            score = float(result["score"])
            last_eval = {
                "step": step,
                "epoch": round(step / per_epoch, 4),
                "eval": result["primary"],
                "score": score,
            }
            _log(out, last_eval)
            if score > best:
                best, best_eval = score, last_eval
                checkpoint.save_model(out / "best", encoder, card(out / "best", step))
        distributed.barrier(world)

    # --- the loop -----------------------------------------------------------------------
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if config.bf16 else nullcontext()
    started, losses = time.time(), []
    show = main and (show_progress is None or show_progress)
    with progress_bar(show, total, "training") as advance:
        if advance is not None:
            advance(step)
        while epoch < config.epochs and step < total:
            order = torch.randperm(
                len(data), generator=torch.Generator().manual_seed(config.seed + epoch)
            )
            while batch_in_epoch < per_epoch and step < total:
                rows = order[
                    batch_in_epoch * config.batch_size : (batch_in_epoch + 1) * config.batch_size
                ]
                texts, labels = _batch(data, rows[rank * local : (rank + 1) * local])
                labels = None if labels is None else labels.to(device)
                encoder.train()
                loss_fn.train()
                optimizer.zero_grad(set_to_none=True)
                with autocast:
                    if isinstance(encoder, CrossEncoder):
                        loss = cross.backward(encoder, loss_fn, texts, labels, max_length)
                    elif config.mini_batch:
                        loss = cached_backward(
                            encoder, loss_fn, texts, labels, config.mini_batch, max_length
                        )
                    else:
                        loss = backward(encoder, loss_fn, texts, labels, max_length)
                distributed.average_gradients(params, world)
                if config.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                step += 1
                batch_in_epoch += 1
                losses.append(distributed.mean_across(loss, world, device))
                if advance is not None:
                    advance(1)
                if main and (step % config.log_every == 0 or step == total):
                    _log(
                        out,
                        {
                            "step": step,
                            "epoch": epoch,
                            "loss": float(np.mean(losses)),
                            "lr": scheduler.get_last_lr()[0],
                            "seconds": time.time() - started,
                        },
                    )
                    losses = []
                if config.eval_every and step % config.eval_every == 0:
                    evaluate()
                if config.checkpoint_every and step % config.checkpoint_every == 0:
                    save_checkpoint()
            if batch_in_epoch >= per_epoch:
                epoch, batch_in_epoch = epoch + 1, 0
                if not config.eval_every:
                    evaluate()
    loop_seconds = time.time() - started
    save_checkpoint()
    if main and best_eval is not None and (out / "best").is_dir():
        # best/'s card, written when it was saved, now also gives the run's last evaluation
        with atomic_path(out / "best" / model_card.FILENAME) as tmp:
            tmp.write_text(model_card.render(card(out / "best", best_eval["step"])))
    if main and classes:
        for folder in (last, out / "best"):
            if folder.is_dir():
                save_classes(folder, classes)
    distributed.teardown(world)
    return {
        "out": str(out),
        "steps": step,
        "best": best if best > -math.inf else None,
        "seconds": time.time() - started,
        "loop_seconds": loop_seconds,  # without the final checkpoint's write
        "processes": world,
        "rank": rank,
    }


def _num_classes(data: list[Example], classes: Sequence[str] | None) -> int:
    """The vocabulary's size, else one more than the largest label (class ids 0..n-1)."""
    if classes:
        return len(classes)
    labels = [e.label for e in data if e.label is not None]
    return int(max(labels)) + 1 if labels else 0


def _gather_rng(world: int) -> list[dict[str, Any]]:
    """Every process's RNG state (dropout masks differ per process), for exact resume."""
    state = checkpoint.rng_state()
    if world == 1:
        return [state]
    import torch.distributed as dist

    states: list[Any] = [None] * world
    dist.all_gather_object(states, state)
    return states


def _trim_metrics(out: Path, step: int) -> None:
    """Keep the records of steps up to ``step``: what a killed run logged after its last
    checkpoint is redone now, so metrics.jsonl goes on from there instead of repeating steps."""
    path = out / "metrics.jsonl"
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
            ours = isinstance(record, dict) and int(record.get("step", 0)) <= step
        except (*JSON_ERRORS, TypeError):
            continue  # half a line, from a run killed while writing it (or not ours)
        if ours:
            kept.append(line)
    if kept != lines or not text.endswith("\n"):
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _log(out: Path, record: dict[str, Any]) -> None:
    with (out / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
