"""sentence-transformers' model-level settings, its ``Router`` and its ``StaticEmbedding``.

Read and written in sentence-transformers 6.2's layout, so a folder goes back and forth:
``config_sentence_transformers.json`` (prompts, default prompt, similarity, truncation),
``router_config.json`` (routes by task) and a static model's ``model.safetensors`` +
``tokenizer.json``.
"""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.models.towers import StaticTower

log = logging.getLogger(__name__)

SETTINGS_FILE = "config_sentence_transformers.json"
ROUTER_FILE = "router_config.json"
SIMILARITIES = ("cosine", "dot", "euclidean", "manhattan")


def read_json(path: Path, expected: type = dict) -> Any:
    """A model config file: a JSON object (``expected=list``: a list), else a one-line error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, *JSON_ERRORS) as e:
        raise FinesimError(f"{path}: cannot read model config ({json_problem(e)})") from None
    if not isinstance(data, expected):
        kind = "list" if expected is list else "object"
        raise FinesimError(f"{path}: not a model config (expected a JSON {kind})")
    return data


@dataclass
class Settings:
    """What a folder says about using the model: prompts, similarity, Matryoshka cut."""

    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    similarity_fn_name: str = "cosine"
    truncate_dim: int | None = None

    @classmethod
    def read(cls, path: Path) -> Settings:
        if not path.is_file():
            return cls()
        raw = read_json(path)
        prompts = raw.get("prompts") or {}
        if not isinstance(prompts, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()
        ):
            raise FinesimError(f"{path}: 'prompts' must map names to prompt strings")
        default = raw.get("default_prompt_name")
        if default is not None and default not in prompts:
            raise FinesimError(f"{path}: default_prompt_name {default!r} is not in 'prompts'")
        similarity = raw.get("similarity_fn_name") or "cosine"
        if similarity not in SIMILARITIES:
            raise FinesimError(f"{path}: unsupported similarity_fn_name {similarity!r}")
        cut = raw.get("truncate_dim")
        if cut is not None and (isinstance(cut, bool) or not isinstance(cut, int) or cut < 1):
            raise FinesimError(f"{path}: truncate_dim {cut!r} is not a positive integer")
        return cls(dict(prompts), default, similarity, cut)

    def to_json(self, versions: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_type": "SentenceTransformer",
            "__version__": versions,
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        }
        if self.truncate_dim is not None:  # as sentence-transformers: only when set
            out["truncate_dim"] = self.truncate_dim
        return out


@dataclass
class RouterConfig:
    """A ``Router``'s choice of route for a task, as sentence-transformers 6.2 makes it.

    For text: an exact (task, "text") mapping, then (task, any), (any, "text"), (any, any),
    then a route named like the task; a task with no route is an error; no task takes
    ``default_route`` (the first route when ``allow_empty_key``).
    """

    routes: tuple[str, ...]
    default_route: str | None = None
    allow_empty_key: bool = True
    mappings: dict[tuple[str | None, str | None], str] = field(default_factory=dict)

    def resolve(self, task: str | None) -> str:
        for key in ((task, "text"), (task, None), (None, "text"), (None, None)):
            if key in self.mappings:
                return self.mappings[key]
        if task and task in self.routes:
            return task
        if "text" in self.routes:
            return "text"
        if task is not None:
            raise FinesimError(f"no route for task {task!r}; routes: {', '.join(self.routes)}")
        default = self.default_route
        if default is None and self.allow_empty_key:
            default = self.routes[0]
        if default is None:
            raise FinesimError(f"this model needs a task, one of: {', '.join(self.routes)}")
        return default

    def parameters(self) -> dict[str, Any]:
        return {
            "default_route": self.default_route,
            "allow_empty_key": self.allow_empty_key,
            "route_mappings": {str(k): v for k, v in self.mappings.items()},
        }


def read_router(folder: Path) -> tuple[RouterConfig, dict[str, str], dict[str, list[str]]]:
    """A Router folder's config, module types (id -> type) and routes (name -> module ids)."""
    path = folder / ROUTER_FILE
    raw = read_json(path if path.is_file() else folder / "config.json")
    types, structure = raw.get("types"), raw.get("structure")
    params = raw.get("parameters") or {}
    if not isinstance(types, dict) or not isinstance(structure, dict) or not structure:
        raise FinesimError(f"{path}: a Router config needs 'types' and 'structure' objects")
    for name, ids in structure.items():
        if not isinstance(ids, list) or not all(i in types for i in ids):
            raise FinesimError(f"{path}: route {name!r} names modules missing from 'types'")
    for model_id in types:
        if not isinstance(model_id, str) or Path(model_id).is_absolute() or ".." in model_id:
            raise FinesimError(f"{path}: module id {model_id!r} is not a plain folder name")
    if not isinstance(params, dict):
        raise FinesimError(f"{path}: 'parameters' must be an object")
    mappings: dict[tuple[str | None, str | None], str] = {}
    for key, route in (params.get("route_mappings") or {}).items():
        try:
            task, modality = ast.literal_eval(key)
        except (ValueError, SyntaxError, TypeError):
            raise FinesimError(
                f"{path}: route mapping key {key!r} is not (task, modality)"
            ) from None
        if route not in structure:
            raise FinesimError(f"{path}: route mapping {key} -> unknown route {route!r}")
        mappings[(task, modality if not isinstance(modality, (tuple, list)) else None)] = route
    default = params.get("default_route")
    if default is not None and default not in structure:
        raise FinesimError(f"{path}: default_route {default!r} is not a route")
    config = RouterConfig(
        tuple(structure), default, bool(params.get("allow_empty_key", True)), mappings
    )
    return config, dict(types), {k: list(v) for k, v in structure.items()}


def write_router(folder: Path, config: RouterConfig, types: dict[str, str], structure: Any) -> None:
    doc = {"types": types, "structure": structure, "parameters": config.parameters()}
    (folder / ROUTER_FILE).write_text(json.dumps(doc, indent=4))


def load_static(folder: Path, *, trust_pickle: bool) -> StaticTower:
    """A ``StaticEmbedding`` folder (or a model2vec one: ``embeddings``) as a StaticTower."""
    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as e:  # tokenizers raises plain Exceptions
        raise FinesimError(
            f"{folder / 'tokenizer.json'}: cannot load the tokenizer ({e})"
        ) from None
    try:
        if (folder / "model.safetensors").is_file():
            state = load_file(str(folder / "model.safetensors"))
        elif (folder / "pytorch_model.bin").is_file() and trust_pickle:
            state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
        else:
            raise FinesimError(f"{folder}: StaticEmbedding without model.safetensors")
    except (SafetensorError, OSError, RuntimeError) as e:
        raise FinesimError(f"{folder}: unreadable StaticEmbedding weights ({e})") from None
    weights = state.get("embedding.weight", state.get("embeddings"))
    if set(state) & {"mapping", "weights"}:
        raise FinesimError(f"{folder}: quantised model2vec weights (mapping) are not supported")
    if not isinstance(weights, torch.Tensor) or weights.ndim != 2:
        raise FinesimError(f"{folder}: StaticEmbedding weights need 'embedding.weight' (2-d)")
    if weights.shape[0] < tokenizer.get_vocab_size():
        raise FinesimError(
            f"{folder}: {weights.shape[0]} embedding rows for a vocabulary of "
            f"{tokenizer.get_vocab_size()}"
        )
    return StaticTower(tokenizer, weights.float())


def save_static(tower: StaticTower, folder: Path) -> None:
    weight = tower.embedding.weight.detach().contiguous()
    save_file({"embedding.weight": weight}, str(folder / "model.safetensors"))
    tower.tokenizer.save(str(folder / "tokenizer.json"))


def resolve_prompt(
    prompts: dict[str, str], default_name: str | None, prompt: str | None, name: str | None
) -> str:
    """The text prepended to each input, as sentence-transformers chooses it.

    ``prompt`` wins (a ``name`` beside it is ignored with a warning), then ``name`` (which
    must be a key of ``prompts``), then the model's ``default_name``; else no prompt.
    """
    if prompt is not None:
        if name is not None:
            log.warning("both prompt and prompt_name given: using prompt, ignoring %r", name)
        return prompt
    if name is not None:
        if name not in prompts:
            known = ", ".join(prompts) or "none"
            raise FinesimError(f"unknown prompt_name {name!r}; this model's prompts: {known}")
        return prompts[name]
    if default_name is not None:
        return prompts.get(default_name, "")
    return ""
