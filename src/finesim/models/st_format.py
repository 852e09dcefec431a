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
from finesim._util.jsonio import json_problem
from finesim.models.dense import Dense
from finesim.models.pooling import ST_NAMES, canonical_mode, needs_hidden_states
from finesim.models.st_modules import (
    ROUTER_FILE,
    SETTINGS_FILE,
    RouterConfig,
    Settings,
    load_static,
    read_json,
    read_router,
    save_static,
    write_router,
)
from finesim.models.towers import Route, StaticTower, TransformerTower
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
    """Everything an Encoder is made of, as read from a folder.

    ``routes`` holds one Route ("default") unless the folder has a Router; ``tail`` are the
    Dense layers after the routes, ``normalize`` whether the output ends L2-normalised.
    """

    routes: dict[str, Route]
    router: RouterConfig | None
    tail: list[Any]
    normalize: bool
    settings: Settings = field(default_factory=Settings)


_read_json = read_json


def weights_file(folder: Path) -> Path:
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


def weights_kind(folder: Path) -> str:
    """'safetensors', 'pickle' or 'none' for the weight files in ``folder``."""
    if any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").is_file():
        return "safetensors"
    if (folder / "pytorch_model.bin").is_file() or (
        folder / "pytorch_model.bin.index.json"
    ).is_file():
        return "pickle"
    return "none"


def refuse_pickle(folder: Path) -> None:
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
    kind = weights_kind(folder)
    if kind == "none":
        raise FinesimError(f"{folder}: no model weights (model.safetensors) in the folder")
    if kind == "pickle" and not trust_pickle:
        refuse_pickle(folder)
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
            f"{weights_file(folder)}: unreadable weights, truncated or corrupt ({e})"
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
    kind = weights_kind(folder)
    if kind == "none":
        raise FinesimError(f"{folder}: Dense module without weights")
    if kind == "pickle" and not trust_pickle:
        refuse_pickle(folder)
    try:
        if kind == "safetensors":
            state = load_file(str(folder / "model.safetensors"))
        else:
            state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        dense.load_state_dict({k: v for k, v in state.items() if k.startswith("linear.")})
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise FinesimError(f"{weights_file(folder)}: unreadable Dense weights ({e})") from None
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


def _include_prompt(folder: Path) -> bool:
    value = _read_json(folder / "config.json").get("include_prompt", True)
    if not isinstance(value, bool):
        raise FinesimError(f"{folder / 'config.json'}: include_prompt {value!r} is not true/false")
    return value


@dataclass
class _Options:
    pooling: str | None
    trust_pickle: bool
    whitening: bool
    where: Path
    loaded: dict[Path, Any] = field(default_factory=dict)  # modules shared between routes


def _transformer_tower(sub: Path, modes: tuple[str, ...], prompt: bool, opts: _Options) -> Any:
    bert_cfg = sub / "sentence_bert_config.json"
    cfg = _read_json(bert_cfg) if bert_cfg.is_file() else {}
    max_length = cfg.get("max_seq_length")
    if max_length is not None and (
        isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
    ):
        raise FinesimError(f"{bert_cfg}: max_seq_length {max_length!r} is not a length")
    key = sub.resolve()
    if key not in opts.loaded:
        transformer = load_transformer(
            sub, trust_pickle=opts.trust_pickle, hidden_states=needs_hidden_states(modes)
        )
        opts.loaded[key] = (transformer, load_tokenizer(sub))
    transformer, tokenizer = opts.loaded[key]
    limit = default_max_length(transformer, tokenizer)
    length = min(max_length or limit, limit)
    lower = bool(cfg.get("do_lower_case", False))
    return TransformerTower(transformer, tokenizer, modes, length, lower, prompt)


def _dense_or_whitening(sub: Path, opts: _Options) -> Any:
    """A Dense folder's layer: a Whitening layer if marked so; None if whitening is off."""
    if not (sub / WHITENING_MARKER).is_file():
        return _load_dense(sub, trust_pickle=opts.trust_pickle)
    if not opts.whitening:
        return None
    return load_whitening(_load_dense(sub, trust_pickle=opts.trust_pickle), sub)


def _chain(
    entries: list[tuple[str, Path, Any]], opts: _Options, *, head: bool
) -> tuple[Any, list[Dense], bool]:
    """One module sequence: (input tower or None, Dense layers, ends normalised).

    ``head``: the sequence must start with an input module (Transformer or StaticEmbedding);
    otherwise (the modules after a Router) it must hold none.
    """
    modes: tuple[str, ...] = ("mean",)
    include_prompt = True
    transformer_dir: Path | None = None
    tower: Any = None
    dense: list[Dense] = []
    normalize = False
    skip_normalize = False
    for kind, sub, type_name in entries:
        if kind in ("Transformer", "StaticEmbedding") and not head:
            raise FinesimError(f"{opts.where}: a {kind} module after the Router")
        if kind == "Transformer":
            transformer_dir = sub
        elif kind == "StaticEmbedding":
            key = sub.resolve()
            if key not in opts.loaded:
                opts.loaded[key] = load_static(sub, trust_pickle=opts.trust_pickle)
            tower = opts.loaded[key]
        elif kind == "Pooling":
            modes, include_prompt = _pooling_modes(sub), _include_prompt(sub)
        elif kind == "Dense":
            layer = _dense_or_whitening(sub, opts)
            dense.extend([layer] if layer is not None else [])
            skip_normalize = layer is None
        elif kind == "Normalize":
            normalize = normalize or not skip_normalize
            skip_normalize = False
        else:
            raise FinesimError(f"{opts.where}: unsupported module type {type_name!r}")
    if transformer_dir is not None:
        if opts.pooling is not None:
            modes = (canonical_mode(opts.pooling),)
        tower = _transformer_tower(transformer_dir, modes, include_prompt, opts)
    if head and tower is None:
        raise FinesimError(f"{opts.where}: no Transformer or StaticEmbedding module")
    return tower, dense, normalize


def _kind(type_name: Any) -> str:
    return str(type_name or "").rsplit(".", 1)[-1]


def load_parts(
    folder: Path, *, pooling: str | None = None, trust_pickle: bool = False, whitening: bool = True
) -> Parts:
    """Read a sentence-transformers folder, or a plain transformers folder with ``pooling``.

    ``whitening=False`` leaves out a whitening layer (and the Normalize written after it).
    A Router's routes each become a Route; the modules after it are the shared tail."""
    modules_file = folder / "modules.json"
    opts = _Options(pooling, trust_pickle, whitening, modules_file)
    if not modules_file.is_file():
        modes = (canonical_mode(pooling or "mean"),)
        tower = _transformer_tower(folder, modes, True, opts)
        return Parts({"default": Route(tower, [], False)}, None, [], False, Settings())
    entries = [
        (_kind(m.get("type")), folder / m.get("path", ""), m.get("type"))
        for m in _modules(modules_file)
    ]
    settings = Settings.read(folder / SETTINGS_FILE)
    if entries and entries[0][0] == "Router":
        router_dir = entries[0][1]
        router, types, structure = read_router(router_dir)
        routes: dict[str, Route] = {}
        for name, ids in structure.items():
            opts.where = router_dir / ROUTER_FILE
            chain = [(_kind(types[i]), router_dir / i, types[i]) for i in ids]
            routes[name] = Route(*_chain(chain, opts, head=True))
        opts.where = modules_file
        _, tail, normalize = _chain(entries[1:], opts, head=False)
        return Parts(routes, router, tail, normalize, settings)
    tower, dense, normalize = _chain(entries, opts, head=True)
    return Parts({"default": Route(tower, [], False)}, None, dense, normalize, settings)


def load_tokenizer(folder: Path) -> Any:
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as e:  # tokenizers raises a plain Exception for a bad tokenizer.json
        raise FinesimError(f"{folder}: cannot load the tokenizer ({json_problem(e)})") from None
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise FinesimError(f"{folder}: finesim needs a fast (tokenizers) tokenizer: tokenizer.json")
    return tokenizer


SAVE_TYPES = {
    **ST_TYPES,
    "Router": "sentence_transformers.base.modules.router.Router",
    "StaticEmbedding": "sentence_transformers.sentence_transformer.modules.static_embedding."
    "StaticEmbedding",
}


def _st_pooling(tower: TransformerTower) -> tuple[list[str], list[Dense]]:
    """sentence-transformers pooling names for ``tower`` and the Dense layers they need.

    SimCSE's ``cls`` (the [CLS] vector through BERT's pooler) becomes sentence-transformers' cls
    pooling followed by a Dense layer holding the pooler's weights with tanh: the same function.
    ``mean-first-last`` and ``mean-top2`` have no sentence-transformers equivalent: they are
    recorded in ``finesim_pooling.json`` and sentence-transformers reads them as mean pooling.
    """
    dim = int(tower.transformer.config.hidden_size)
    st_modes, heads = [], []
    for mode in tower.pooling:
        if mode == "cls":
            pooler = getattr(tower.transformer, "pooler", None)
            if pooler is None or len(tower.pooling) > 1:
                raise FinesimError(
                    "pooling 'cls' can only be saved alone, for a model with a pooler"
                )
            head = Dense(dim, dim, True, "torch.nn.modules.activation.Tanh")
            head.linear.load_state_dict(pooler.dense.state_dict())
            heads.append(head)
            st_modes.append("cls-before-pooler")
        elif mode in ST_NAMES:
            st_modes.append(mode)
        else:
            log.warning(
                "pooling %r is saved for finesim; sentence-transformers reads it as mean", mode
            )
            st_modes.append("mean")
    return st_modes, heads


class _Writer:
    """Numbered module folders under ``root`` and the (type, path) list that names them."""

    def __init__(self, root: Path, prefix: str = "", start: int = 0) -> None:
        self.root, self.prefix, self.count = root, prefix, start
        self.entries: list[tuple[str, str]] = []

    def add(self, kind: str, in_root: bool = False) -> Path:
        name = "" if in_root else f"{self.prefix}{self.count}_{kind}"
        self.count += 1
        self.entries.append((SAVE_TYPES[kind], name))
        sub = self.root / name
        sub.mkdir(exist_ok=True)
        return sub

    def tower(self, tower: Any, in_root: bool) -> list[Dense]:
        """Write an input tower; return the Dense layers its pooling needs after it."""
        if isinstance(tower, StaticTower):
            save_static(tower, self.add("StaticEmbedding", in_root))
            return []
        sub = self.add("Transformer", in_root)
        tower.transformer.save_pretrained(sub)
        tower.tokenizer.save_pretrained(sub)
        bert = {"max_seq_length": tower.max_length, "do_lower_case": tower.do_lower_case}
        (sub / "sentence_bert_config.json").write_text(json.dumps(bert, indent=2))
        st_modes, heads = _st_pooling(tower)
        pool_dir = self.add("Pooling")
        cfg: dict[str, Any] = {
            "word_embedding_dimension": int(tower.transformer.config.hidden_size)
        }
        for fs_mode, (_, key) in ST_NAMES.items():
            cfg[key] = fs_mode in st_modes
        cfg["include_prompt"] = tower.include_prompt
        (pool_dir / "config.json").write_text(json.dumps(cfg, indent=2))
        if any(m not in ST_NAMES and m != "cls" for m in tower.pooling):
            (pool_dir / FINESIM_POOLING_FILE).write_text(json.dumps({"modes": list(tower.pooling)}))
        return heads

    def dense(self, layers: list[Any], normalize: bool) -> None:
        for layer in layers:
            if isinstance(layer, Whitening) and layer.pre_normalize:
                self.add("Normalize")
            sub = self.add("Dense")
            (sub / "config.json").write_text(json.dumps(layer.config(), indent=2))
            if isinstance(layer, Whitening):
                (sub / WHITENING_MARKER).write_text(json.dumps(layer.marker(), indent=2))
            state = {k: v.detach().contiguous() for k, v in layer.state_dict().items()}
            save_file(state, str(sub / "model.safetensors"))
        if normalize:
            self.add("Normalize")


def save_parts(out: Path, parts: Parts) -> None:
    """Write a sentence-transformers folder into ``out`` (an existing empty folder).

    A model with one route is written as Transformer (or StaticEmbedding) at the root, then
    Pooling, Dense and Normalize folders; a Router model as sentence-transformers 6.2 writes
    it: the Router at the root with each route's modules in ``<route>_<i>_<Type>`` folders.
    """
    from finesim._util.version import VERSION

    hf_logging.disable_progress_bar()
    versions = {"finesim": VERSION, "pytorch": torch.__version__}
    (out / SETTINGS_FILE).write_text(json.dumps(parts.settings.to_json(versions), indent=2))
    top = _Writer(out)
    if parts.router is None:
        route = parts.routes["default"]
        heads = top.tower(route.tower, in_root=True)
        top.dense([*heads, *route.dense, *parts.tail], parts.normalize)
    else:
        top.entries.append((SAVE_TYPES["Router"], ""))
        top.count = 1
        types: dict[str, str] = {}
        structure: dict[str, list[str]] = {}
        for name, route in parts.routes.items():
            inner = _Writer(out, prefix=f"{name}_")
            heads = inner.tower(route.tower, in_root=False)
            inner.dense([*heads, *route.dense], route.normalize and bool(parts.tail))
            structure[name] = [path for _, path in inner.entries]
            types.update({path: kind for kind, path in inner.entries})
        write_router(out, parts.router, types, structure)
        top.dense(list(parts.tail), parts.normalize)
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": kind}
        for i, (kind, path) in enumerate(top.entries)
    ]
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
