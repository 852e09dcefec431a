"""Training settings: plain values with defaults, read from a recipe and ``--set`` overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from finesim._util.errors import FinesimError


@dataclass
class TrainConfig:
    """Everything a run needs besides the model; recipes under ``finesim/recipes`` fill it."""

    kind: str = "bi"  # bi: an Encoder | cross: a CrossEncoder, losses of finesim.losses.cross
    data: str = ""  # a file, or a built-in source (snli-triples, stsb-train, ...)
    format: str = "pairs"  # pairs | triples | scored | labelled | text | cocite | classes
    columns: dict[str, str] = field(default_factory=dict)  # role -> file column
    loss: str = "infonce"  # softmax | cosine | triplet | infonce | cosent | center | batch-*
    # (kind cross: bce | mse | cross-entropy | multiple-negatives)
    loss_args: dict[str, Any] = field(default_factory=dict)
    # Matryoshka: the loss also on the first d components of each vector, for each d here
    matryoshka_dims: list[int] = field(default_factory=list)  # e.g. [384, 256, 128, 64]
    matryoshka_weights: list[float] = field(default_factory=list)  # one each (default 1)
    epochs: int = 1
    max_steps: int = 0  # stop after this many steps (0: run all epochs)
    batch_size: int = 32  # global batch, split across processes
    mini_batch: int = 0  # GradCache mini-batch (0: plain backward)
    lr: float = 2e-5
    optimizer: str = "adamw"  # adamw | adam
    weight_decay: float = 0.01
    warmup_steps: int = -1  # -1: use warmup_ratio
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 0  # 0: the model's own
    bf16: bool = False  # bfloat16 autocast (CPU or GPU)
    seed: int = 42
    evaluator: str = ""  # chooses best/ on dev data: stsb-dev | csfcube-dev:fold1|fold2 | ""
    # (kind cross: stsb-dev | snli-dev | "")
    eval_every: int = 0  # steps; 0: at the end of each epoch
    checkpoint_every: int = 100
    log_every: int = 10
    recipe: str = ""  # the recipe these values came from (name or YAML file): for the model card


def recipe_names() -> list[str]:
    folder = resources.files("finesim") / "recipes"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def _coerce(config: TrainConfig, key: str, value: Any, where: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(config)}
    if key not in names:
        raise FinesimError(f"{where}: unknown setting {key!r}; known: {', '.join(names)}")
    current = getattr(config, key)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise FinesimError(f"{where}: {key} must be true or false")
        return value
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        try:
            return type(current)(value)
        except (TypeError, ValueError):
            raise FinesimError(f"{where}: {key} must be a number, not {value!r}") from None
    if isinstance(current, dict) and not isinstance(value, dict):
        raise FinesimError(f"{where}: {key} must be a mapping")
    if isinstance(current, list) and not isinstance(value, list):
        raise FinesimError(f"{where}: {key} must be a list, e.g. [384, 128, 64]")
    if isinstance(current, str) and not isinstance(value, str):
        return str(value)
    return value


def load_config(recipe: str | None, overrides: list[str] | None = None) -> TrainConfig:
    """A recipe by name or YAML path, then ``key=value`` overrides (values parsed as YAML)."""
    config = TrainConfig()
    if recipe:
        path = Path(recipe)
        if not path.is_file():
            packaged = resources.files("finesim") / "recipes" / f"{recipe}.yaml"
            if not packaged.is_file():
                names = ", ".join(recipe_names())
                raise FinesimError(f"unknown recipe {recipe!r}; one of {names}, or a YAML file")
            path = Path(str(packaged))
        config.recipe = recipe
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise FinesimError(f"{path}: invalid YAML ({e})") from None
        if not isinstance(values, dict):
            raise FinesimError(f"{path}: a recipe is a mapping of settings")
        values.pop("description", None)
        for key, value in values.items():
            setattr(config, key, _coerce(config, key, value, str(path)))
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise FinesimError(f"--set {item!r}: expected key=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        setattr(config, key.strip(), _coerce(config, key.strip(), value, f"--set {item}"))
    return config
