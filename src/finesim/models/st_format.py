"""Read and write sentence-transformers model folders (modules.json + one folder per module).

finesim writes only safetensors and reads pickled weights (``pytorch_model.bin``) only when the
caller says it trusts them, and then with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel
from transformers.utils import logging as hf_logging

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.models.dense import Dense
from finesim.models.pooling import ST_NAMES, canonical_mode, needs_hidden_states
from finesim.models.whitening import MARKER as WHITENING_MARKER
from finesim.models.whitening import Whitening, load_whitening

log = logging.getLogger(__name__)

ST_TYPES = {
    "Transformer": "sentence_transformers.models.Transformer",
    "Pooling": "sentence_transformers.models.Pooling",
    "Dense": "sentence_transformers.models.Dense",
    "Normalize": "sentence_transformers.models.Normalize",
}
FINESIM_POOLING_FILE = "finesim_pooling.json"
# Models whose position ids start after the padding index (max length = positions - 2).
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "mpnet", "camembert", "longformer"}


@dataclass
class Parts:
    """Everything an Encoder is made of, as read from a folder."""

    transformer: PreTrainedModel
    tokenizer: Any
    pooling: tuple[str, ...]
    dense: list[Dense] = field(default_factory=list)
    normalize: bool = False
    max_length: int = 512
    do_lower_case: bool = False


def _read_json(path: Path, expected: type = dict) -> Any:
    """A model config file: a JSON object (``expected=list``: a list), else a one-line error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, *JSON_ERRORS) as e:
        raise FinesimError(f"{path}: cannot read model config ({json_problem(e)})") from None
    if not isinstance(data, expected):
        kind = "list" if expected is list else "object"
        raise FinesimError(f"{path}: not a model config (expected a JSON {kind})")
    return data


def _weights_file(folder: Path) -> Path:
    """The weights file of ``folder`` to name in an error (the first shard if sharded)."""
    found = sorted(folder.glob("*.safetensors"))
    return found[0] if found else folder / "pytorch_model.bin"


def _modules(path: Path) -> list[dict[str, Any]]:
    """``modules.json``: its entries, checked, in ``idx`` order."""
    modules = _read_json(path, list)
    for module in modules:
        if not isinstance(module, dict) or not isinstance(module.get("path", ""), str):
            raise FinesimError(f"{path}: each module must be an object with a 'path' string")
        idx = module.get("idx", 0)
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise FinesimError(f"{path}: module 'idx' {idx!r} is not an integer")
    return sorted(modules, key=lambda m: int(m.get("idx", 0)))


def _weights_kind(folder: Path) -> str:
    """'safetensors', 'pickle' or 'none' for the weight files in ``folder``."""
    if any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").is_file():
        return "safetensors"
    if (folder / "pytorch_model.bin").is_file() or (
        folder / "pytorch_model.bin.index.json"
    ).is_file():
        return "pickle"
    return "none"


def _refuse_pickle(folder: Path) -> None:
    raise FinesimError(
        f"{folder}: only pickled weights (pytorch_model.bin), which can run code when loaded; "
        "convert them to safetensors, or pass --trust-pickle (trust_pickle=True) to load them "
        "with torch.load(weights_only=True)"
    )


def load_transformer(folder: Path, *, trust_pickle: bool, hidden_states: bool) -> PreTrainedModel:
    """A transformers AutoModel from a local folder, safetensors first."""
    if not (folder / "config.json").is_file():
        raise FinesimError(f"{folder}: not a model folder (no config.json or modules.json)")
    _read_json(folder / "config.json")  # a bad file named here, not deep in transformers
    kind = _weights_kind(folder)
    if kind == "none":
        raise FinesimError(f"{folder}: no model weights (model.safetensors) in the folder")
    if kind == "pickle" and not trust_pickle:
        _refuse_pickle(folder)
    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every load
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        if hidden_states:
            config.output_hidden_states = True
        return AutoModel.from_pretrained(
            folder,
            config=config,
            local_files_only=True,
            use_safetensors=kind == "safetensors",
            weights_only=True,
        )
    except SafetensorError as e:
        raise FinesimError(
            f"{_weights_file(folder)}: unreadable weights, truncated or corrupt ({e})"
        ) from None
    except (OSError, ValueError, KeyError, RecursionError, RuntimeError, TypeError) as e:
        # RuntimeError: a pickle or tensor shapes that do not fit the config
        raise FinesimError(f"{folder}: cannot load the transformer ({e})") from None


def default_max_length(transformer: PreTrainedModel, tokenizer: Any) -> int:
    """The longest input the model takes: tokenizer limit capped by the position table."""
    config = transformer.config
    positions = getattr(config, "max_position_embeddings", 512) or 512
    if getattr(config, "model_type", "") in _OFFSET_POSITIONS:
        positions -= 2
    limit = getattr(tokenizer, "model_max_length", positions) or positions
    return int(min(limit, positions))


def _load_dense(folder: Path, *, trust_pickle: bool) -> Dense:
    cfg = _read_json(folder / "config.json")
    try:
        dense = Dense(
            int(cfg["in_features"]),
            int(cfg["out_features"]),
            bool(cfg.get("bias", True)),
            str(cfg.get("activation_function", "torch.nn.modules.activation.Tanh")),
        )
    except (KeyError, ValueError) as e:
        raise FinesimError(f"{folder / 'config.json'}: bad Dense config ({e})") from None
    kind = _weights_kind(folder)
    if kind == "none":
        raise FinesimError(f"{folder}: Dense module without weights")
    if kind == "pickle" and not trust_pickle:
        _refuse_pickle(folder)
    try:
        if kind == "safetensors":
            state = load_file(str(folder / "model.safetensors"))
        else:
            state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        dense.load_state_dict({k: v for k, v in state.items() if k.startswith("linear.")})
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise FinesimError(f"{_weights_file(folder)}: unreadable Dense weights ({e})") from None
    return dense


def _pooling_modes(folder: Path) -> tuple[str, ...]:
    override = folder / FINESIM_POOLING_FILE
    if override.is_file():
        modes = _read_json(override).get("modes")
        if not isinstance(modes, list) or not modes or not all(isinstance(m, str) for m in modes):
            raise FinesimError(f"{override}: 'modes' must be a list of pooling names")
        return tuple(canonical_mode(m) for m in modes)
    cfg = _read_json(folder / "config.json")
    if "pooling_mode" in cfg:  # sentence-transformers >= 6
        raw = cfg["pooling_mode"]
        names = [raw] if isinstance(raw, str) else list(raw)
        st_to_finesim = {st: fs for fs, (st, _) in ST_NAMES.items()}
        modes = []
        for n in names:
            if n not in st_to_finesim:
                raise FinesimError(f"{folder / 'config.json'}: unsupported pooling mode {n!r}")
            modes.append(st_to_finesim[n])
        return tuple(modes)
    modes = [fs for fs, (_, key) in ST_NAMES.items() if cfg.get(key)]
    return tuple(modes) or ("mean",)


def load_parts(
    folder: Path, *, pooling: str | None = None, trust_pickle: bool = False, whitening: bool = True
) -> Parts:
    """Read a sentence-transformers folder, or a plain transformers folder with ``pooling``.

    ``whitening=False`` leaves out a whitening layer (and the Normalize written after it)."""
    modules_file = folder / "modules.json"
    modes: tuple[str, ...]
    if not modules_file.is_file():
        modes = (canonical_mode(pooling or "mean"),)
        transformer = load_transformer(
            folder, trust_pickle=trust_pickle, hidden_states=needs_hidden_states(modes)
        )
        tokenizer = _load_tokenizer(folder)
        return Parts(
            transformer, tokenizer, modes, [], False, default_max_length(transformer, tokenizer)
        )

    modules = _modules(modules_file)
    modes = ("mean",)
    dense: list[Dense] = []
    normalize = False
    max_length: int | None = None
    lower = False
    transformer_dir = folder
    skip_normalize = False
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        sub = folder / module.get("path", "")
        if kind == "Transformer":
            transformer_dir = sub
            bert_cfg = sub / "sentence_bert_config.json"
            cfg = _read_json(bert_cfg) if bert_cfg.is_file() else {}
            max_length = cfg.get("max_seq_length")
            if max_length is not None and (
                isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
            ):
                raise FinesimError(f"{bert_cfg}: max_seq_length {max_length!r} is not a length")
            lower = bool(cfg.get("do_lower_case", False))
        elif kind == "Pooling":
            modes = _pooling_modes(sub)
        elif kind == "Dense" and (sub / WHITENING_MARKER).is_file():
            if whitening:
                dense.append(load_whitening(_load_dense(sub, trust_pickle=trust_pickle), sub))
            else:
                skip_normalize = True
        elif kind == "Dense":
            dense.append(_load_dense(sub, trust_pickle=trust_pickle))
        elif kind == "Normalize":
            normalize = normalize or not skip_normalize
            skip_normalize = False
        else:
            raise FinesimError(f"{modules_file}: unsupported module type {module.get('type')!r}")
    if pooling is not None:
        modes = (canonical_mode(pooling),)
    transformer = load_transformer(
        transformer_dir, trust_pickle=trust_pickle, hidden_states=needs_hidden_states(modes)
    )
    tokenizer = _load_tokenizer(transformer_dir)
    limit = default_max_length(transformer, tokenizer)
    return Parts(
        transformer, tokenizer, modes, dense, normalize, min(max_length or limit, limit), lower
    )


def _load_tokenizer(folder: Path) -> Any:
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as e:  # tokenizers raises a plain Exception for a bad tokenizer.json
        raise FinesimError(f"{folder}: cannot load the tokenizer ({json_problem(e)})") from None
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise FinesimError(f"{folder}: finesim needs a fast (tokenizers) tokenizer: tokenizer.json")
    return tokenizer


def save_parts(
    out: Path,
    *,
    transformer: PreTrainedModel,
    tokenizer: Any,
    pooling: tuple[str, ...],
    dense: list[Dense],
    normalize: bool,
    max_length: int,
    do_lower_case: bool,
) -> None:
    """Write a sentence-transformers folder into ``out`` (an existing empty folder).

    SimCSE's ``cls`` (the [CLS] vector through BERT's pooler) becomes sentence-transformers' cls
    pooling followed by a Dense layer holding the pooler's weights with tanh: the same function,
    so sentence-transformers reproduces the embeddings. ``mean-first-last`` and ``mean-top2`` have
    no sentence-transformers equivalent: they are recorded in ``finesim_pooling.json`` and
    sentence-transformers will read them as plain mean pooling.
    """
    from finesim._util.version import VERSION

    hf_logging.disable_progress_bar()
    dim = int(transformer.config.hidden_size)
    dense = list(dense)
    st_modes = []
    for mode in pooling:
        if mode == "cls":
            pooler = getattr(transformer, "pooler", None)
            if pooler is None or len(pooling) > 1:
                raise FinesimError(
                    "pooling 'cls' can only be saved alone, for a model with a pooler"
                )
            head = Dense(dim, dim, True, "torch.nn.modules.activation.Tanh")
            head.linear.load_state_dict(pooler.dense.state_dict())
            dense.insert(0, head)
            st_modes.append("cls-before-pooler")
        elif mode in ST_NAMES:
            st_modes.append(mode)
        else:
            log.warning(
                "pooling %r is saved for finesim; sentence-transformers reads it as mean", mode
            )
            st_modes.append("mean")

    transformer.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_length, "do_lower_case": do_lower_case}, indent=2)
    )
    versions = {"finesim": VERSION, "pytorch": torch.__version__}
    (out / "config_sentence_transformers.json").write_text(
        json.dumps(
            {"__version__": versions, "prompts": {}, "similarity_fn_name": "cosine"}, indent=2
        )
    )
    modules: list[dict[str, Any]] = [
        {"idx": 0, "name": "0", "path": "", "type": ST_TYPES["Transformer"]}
    ]

    def add(kind: str) -> Path:
        idx = len(modules)
        modules.append(
            {"idx": idx, "name": str(idx), "path": f"{idx}_{kind}", "type": ST_TYPES[kind]}
        )
        sub = out / f"{idx}_{kind}"
        sub.mkdir()
        return sub

    pool_dir = add("Pooling")
    pool_cfg: dict[str, Any] = {"word_embedding_dimension": dim}
    for fs_mode, (_, key) in ST_NAMES.items():
        pool_cfg[key] = fs_mode in st_modes
    (pool_dir / "config.json").write_text(json.dumps(pool_cfg, indent=2))
    if any(m not in ST_NAMES and m != "cls" for m in pooling):
        (pool_dir / FINESIM_POOLING_FILE).write_text(json.dumps({"modes": list(pooling)}))
    for layer in dense:
        if isinstance(layer, Whitening) and layer.pre_normalize:
            add("Normalize")
        sub = add("Dense")
        (sub / "config.json").write_text(json.dumps(layer.config(), indent=2))
        if isinstance(layer, Whitening):
            (sub / WHITENING_MARKER).write_text(json.dumps(layer.marker(), indent=2))
        state = {k: v.detach().contiguous() for k, v in layer.state_dict().items()}
        save_file(state, str(sub / "model.safetensors"))
    if normalize:
        add("Normalize")
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
