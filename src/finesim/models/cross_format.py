"""Read and write sentence-transformers 6.2 CrossEncoder folders.

What 6.2's ``CrossEncoder.save`` writes, and so what finesim reads and writes: the transformers
``*ForSequenceClassification`` model and its tokenizer at the root (the tokenizer's
``model_max_length`` is the input limit), ``modules.json`` naming one Transformer module at
``""``, its ``sentence_bert_config.json`` (``transformer_task: sequence-classification``) and
``config_sentence_transformers.json`` (``model_type: CrossEncoder``, ``activation_fn``).
Older folders are read too: 4.x/5.x kept the activation in ``config.json`` under
``sentence_transformers``, 3.x under ``sbert_ce_default_activation_function``, neither with a
``modules.json``. A sentence *encoder* folder (``minilm``) or a plain BERT gives its
transformer with a fresh, randomly initialised head: the starting point for training.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedModel
from transformers.utils import logging as hf_logging

from finesim._util.errors import FinesimError
from finesim.models.st_format import (
    default_max_length,
    load_tokenizer,
    read_json,
    refuse_pickle,
    weights_file,
    weights_kind,
)
from finesim.models.st_modules import SETTINGS_FILE

log = logging.getLogger(__name__)

TRANSFORMER_TYPE = "sentence_transformers.base.modules.transformer.Transformer"
MODULE_CONFIG = {
    "transformer_task": "sequence-classification",
    "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
    "module_output_name": "scores",
}
# activation names finesim takes, and the dotted torch paths sentence-transformers saves
ACTIVATIONS = {
    "sigmoid": "torch.nn.modules.activation.Sigmoid",
    "identity": "torch.nn.modules.linear.Identity",
    "softmax": "torch.nn.modules.activation.Softmax",
    "tanh": "torch.nn.modules.activation.Tanh",
    "relu": "torch.nn.modules.activation.ReLU",
}
_BY_PATH = {path: name for name, path in ACTIVATIONS.items()}


@dataclass
class CrossParts:
    """A cross-encoder as read from a folder: model, tokenizer, input limit, activation."""

    model: PreTrainedModel
    tokenizer: Any
    max_length: int
    activation: str  # a key of ACTIVATIONS
    fresh_head: bool  # the head was initialised here, not read


def activation_name(value: str, where: str) -> str:
    """A key of ``ACTIVATIONS`` for a name or dotted torch path, else a one-line error."""
    if value in ACTIVATIONS:
        return value
    if value in _BY_PATH:
        return _BY_PATH[value]
    raise FinesimError(
        f"{where}: activation {value!r} is not supported; one of {', '.join(ACTIVATIONS)} "
        "(or their torch.nn paths)"
    )


def _transformer_dir(folder: Path) -> tuple[Path, bool]:
    """The folder holding the transformer, and whether ``modules.json`` calls it a
    cross-encoder (a sentence encoder's transformer gets a fresh head)."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return folder, False
    modules = read_json(modules_file, list)
    first = modules[0] if modules else None
    if not isinstance(first, dict) or not str(first.get("type", "")).endswith("Transformer"):
        raise FinesimError(f"{modules_file}: a cross-encoder starts with a Transformer module")
    path = first.get("path", "")
    if not isinstance(path, str):
        raise FinesimError(f"{modules_file}: module 'path' {path!r} is not a string")
    sub = folder / path
    bert = sub / "sentence_bert_config.json"
    task = read_json(bert).get("transformer_task") if bert.is_file() else None
    if task == "sequence-classification" and len(modules) > 1:
        raise FinesimError(
            f"{modules_file}: modules after the Transformer (a Dense or LogitScore scoring "
            "head) are not supported by finesim's CrossEncoder"
        )
    return sub, task == "sequence-classification"


def _saved_activation(folder: Path, config: dict[str, Any]) -> str | None:
    """The activation a folder records (6.x settings file, then 4.x/5.x and 3.x config keys)."""
    settings = folder / SETTINGS_FILE
    if settings.is_file():
        value = read_json(settings).get("activation_fn")
        if value is not None:
            return activation_name(str(value), f"{settings}: field 'activation_fn'")
    old = config.get("sentence_transformers")
    if isinstance(old, dict) and old.get("activation_fn") is not None:
        where = f"{folder / 'config.json'}: field 'sentence_transformers.activation_fn'"
        return activation_name(str(old["activation_fn"]), where)
    older = config.get("sbert_ce_default_activation_function")
    if older is not None:
        where = f"{folder / 'config.json'}: field 'sbert_ce_default_activation_function'"
        return activation_name(str(older), where)
    return None


def _max_seq_length(sub: Path) -> int | None:
    bert = sub / "sentence_bert_config.json"
    value = read_json(bert).get("max_seq_length") if bert.is_file() else None
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise FinesimError(f"{bert}: max_seq_length {value!r} is not a length")
    return value


@contextmanager
def _quiet() -> Iterator[None]:
    """transformers' load report (a table of missing keys) is ours to judge, not to print."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _head_count(config: dict[str, Any]) -> int | None:
    """The head's label count if ``config.json`` describes a sequence classifier, else None."""
    archs = config.get("architectures") or []
    if not any(str(a).endswith("ForSequenceClassification") for a in archs):
        return None
    labels = config.get("id2label")
    return len(labels) if isinstance(labels, dict) and labels else 2


def load_cross(
    folder: Path, *, num_labels: int | None = None, trust_pickle: bool = False
) -> CrossParts:
    """Read a cross-encoder folder (or a transformer to put a fresh head on).

    ``num_labels`` must match a saved head; without one it sizes the fresh head (default 1).
    """
    sub, is_cross = _transformer_dir(folder)
    config_file = sub / "config.json"
    if not config_file.is_file():
        raise FinesimError(f"{sub}: not a model folder (no config.json)")
    if num_labels is not None and (isinstance(num_labels, bool) or num_labels < 1):
        raise FinesimError(f"num_labels {num_labels!r}: must be 1 or more")
    raw = read_json(config_file)
    saved = _head_count(raw)
    if saved is not None and num_labels is not None and num_labels != saved:
        raise FinesimError(
            f"{config_file}: the saved head has {saved} labels, not num_labels={num_labels}"
        )
    fresh = saved is None
    if is_cross and fresh:
        raise FinesimError(f"{config_file}: a cross-encoder folder whose model has no head")
    model = _load_model(sub, (num_labels or 1) if fresh else None, trust_pickle)
    tokenizer = load_tokenizer(sub)
    limit = default_max_length(model, tokenizer)
    length = min(_max_seq_length(sub) or limit, limit)
    activation = _saved_activation(folder, raw)
    if activation is None:
        activation = "sigmoid" if model.config.num_labels == 1 else "identity"
    if fresh:
        log.info("%s: a fresh %d-label head on its transformer", folder, model.config.num_labels)
    return CrossParts(model.eval(), tokenizer, length, activation, fresh)


def _load_model(sub: Path, fresh_labels: int | None, trust_pickle: bool) -> PreTrainedModel:
    """The sequence classifier in ``sub``; ``fresh_labels``: a new head of that size."""
    fresh = fresh_labels is not None
    kind = weights_kind(sub)
    if kind == "none":
        raise FinesimError(f"{sub}: no model weights (model.safetensors) in the folder")
    if kind == "pickle" and not trust_pickle:
        refuse_pickle(sub)
    try:
        with _quiet():
            config = AutoConfig.from_pretrained(sub, local_files_only=True)
            if fresh_labels is not None:
                config.num_labels = fresh_labels
            model, info = AutoModelForSequenceClassification.from_pretrained(
                sub,
                config=config,
                local_files_only=True,
                use_safetensors=kind == "safetensors",
                weights_only=True,
                output_loading_info=True,
            )
    except SafetensorError as e:
        raise FinesimError(
            f"{weights_file(sub)}: unreadable weights, truncated or corrupt ({e})"
        ) from None
    except (OSError, ValueError, KeyError, RecursionError, RuntimeError, TypeError) as e:
        raise FinesimError(f"{sub}: cannot load the cross-encoder ({e})") from None
    # a fresh head is the classifier and, for BERT, the pooler before it
    expected = ("classifier", "pooler") if fresh else ()
    missing = [k for k in info.get("missing_keys", ()) if not any(p in k for p in expected)]
    if missing:
        named = ", ".join(sorted(missing)[:3])
        raise FinesimError(f"{weights_file(sub)}: weights missing from the file ({named})")
    loaded: PreTrainedModel = model
    return loaded


def save_cross(out: Path, parts: CrossParts) -> None:
    """Write ``parts`` into the existing empty folder ``out`` as sentence-transformers 6.2
    saves a CrossEncoder (safetensors only)."""
    from finesim._util.version import VERSION

    with _quiet():
        parts.model.save_pretrained(out, safe_serialization=True)
        tokenizer = parts.tokenizer
        saved_limit = tokenizer.model_max_length
        tokenizer.model_max_length = parts.max_length  # where 6.2 keeps the input limit
        try:
            tokenizer.save_pretrained(out)
        finally:
            tokenizer.model_max_length = saved_limit
    (out / "sentence_bert_config.json").write_text(json.dumps(MODULE_CONFIG, indent=4))
    modules = [{"idx": 0, "name": "0", "path": "", "type": TRANSFORMER_TYPE}]
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
    settings = {
        "__version__": {"finesim": VERSION, "pytorch": torch.__version__},
        "activation_fn": ACTIVATIONS[parts.activation],
        "default_prompt_name": None,
        "model_type": "CrossEncoder",
        "prompts": {},
    }
    (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))
