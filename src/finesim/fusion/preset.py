"""Presets: which hybrid terms a ranking fuses, with what weights, by which fusion.

A preset is a small JSON file (``{"fusion": "zscore", "weights": {"abstract": 1.0, ...}}``);
the shipped ones live in ``presets/`` beside this module. What each term means is defined in
``finesim.fusion.terms``, how scores are fused in ``finesim.fusion.fuse``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim._util.jsonio import JSON_ERRORS, json_problem
from finesim.fusion.terms import ALL_TERMS, RERANK, SENTENCE_TERMS

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable  # 3.11+; annotations only

FUSIONS = ("weighted", "zscore", "rrf")
DEFAULT_PRESET = "default"


@dataclass(frozen=True)
class Preset:
    """Weights per term (0 or absent: unused; negative: subtracted) and how to fuse them."""

    weights: Mapping[str, float]
    fusion: str = "weighted"
    rrf_k: float = 60.0
    name: str = ""
    note: dict[str, Any] = field(default_factory=dict, compare=False)
    # the query sets whose judgments chose or fitted the weights, ``benchmark:split`` (e.g.
    # ``csfcube:fold2_dev``): an evaluation on those queries is not a test figure
    fitted_on: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        unknown = [t for t in self.weights if t not in ALL_TERMS]
        if unknown:
            raise ValueError(f"unknown term {unknown[0]!r}; terms: {', '.join(ALL_TERMS)}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; one of {', '.join(FUSIONS)}")
        if not all(np.isfinite(w) for w in self.weights.values()):
            raise ValueError("weights must be finite numbers")
        # negative weights are allowed: a learned fusion (``finesim.fusion.learn``) may
        # subtract a term that overlaps others
        if not any(w > 0 for w in self.weights.values()):
            raise ValueError("a preset needs at least one term with a positive weight")
        if self.rrf_k <= 0:
            raise ValueError("rrf_k must be > 0")

    @property
    def terms(self) -> list[str]:
        """The terms with a non-zero weight, in ``ALL_TERMS`` order."""
        return [t for t in ALL_TERMS if self.weights.get(t, 0.0) != 0]

    @property
    def reranks(self) -> bool:
        """Whether the preset weighs the cross-encoder's term ``rerank`` (it needs one)."""
        return RERANK in self.terms

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "fusion": self.fusion}
        out["weights"] = {t: float(self.weights[t]) for t in self.terms}
        if self.fusion == "rrf":
            out["rrf_k"] = self.rrf_k
        if self.fitted_on:
            out["fitted_on"] = list(self.fitted_on)
        if self.note:
            out["note"] = self.note
        return out


def _shipped() -> Traversable:
    return resources.files("finesim") / "fusion" / "presets"


def preset_names() -> list[str]:
    """The presets that ship with finesim."""
    return sorted(
        p.name.removesuffix(".json") for p in _shipped().iterdir() if p.name.endswith(".json")
    )


def shipped_preset(name: str) -> Preset:
    """A preset that ships with finesim, by name only (never a file path: the server takes
    names from HTTP clients)."""
    if name not in preset_names():
        names = ", ".join(preset_names())
        raise FinesimError(f"unknown preset {name!r}: not one of {names}")
    return _read_preset(Path(str(_shipped() / f"{name}.json")))


def load_preset(name_or_path: str | None = None) -> Preset:
    """A JSON file, or a shipped preset by name (default: ``default``)."""
    spec = name_or_path or DEFAULT_PRESET
    if Path(spec).is_file():
        return _read_preset(Path(spec))
    if spec not in preset_names():
        names = ", ".join(preset_names())
        raise FinesimError(f"unknown preset {spec!r}: not a file and not one of {names}")
    return shipped_preset(spec)


def _read_preset(path: Path) -> Preset:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, *JSON_ERRORS) as e:
        raise FinesimError(f"{path}: cannot read the preset ({json_problem(e)})") from None
    try:
        return Preset(
            weights={str(k): float(v) for k, v in data["weights"].items()},
            fusion=str(data.get("fusion", "weighted")),
            rrf_k=float(data.get("rrf_k", 60.0)),
            name=str(data.get("name", path.stem)),
            note=dict(data.get("note", {})),
            fitted_on=_fitted_on(data.get("fitted_on", [])),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise FinesimError(f"{path}: bad preset ({e}); expected weights {{term: w}}") from None


def _fitted_on(value: Any) -> tuple[str, ...]:
    """``fitted_on`` of a preset file: a list of ``benchmark:split`` names."""
    if isinstance(value, str) or not all(isinstance(v, str) and ":" in v for v in value):
        raise ValueError("fitted_on must be a list of benchmark:split names")
    return tuple(value)


def explaining_term(preset: Preset) -> str:
    """The scorer whose sentence pairs explain a hit: the preset's sentence term with the
    largest positive weight, ``max-sim`` if it has none."""
    used = [t for t in SENTENCE_TERMS if preset.weights.get(t, 0.0) > 0]
    return max(used, key=lambda t: preset.weights[t]) if used else "max-sim"
