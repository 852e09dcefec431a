"""``EncoderSpec``: the one value that says which encoder to build and how.

Why: a model travels from the command line to Ray actors, the server and an index manifest.
Passed as loose strings and dicts, each hop re-assembled it and some dropped a field (the Ray
index build forwarded the model and backend but not pooling or whitening). A frozen spec is
built once, passed whole, written to JSON and read back, and builds the same ``Encoder``
wherever it arrives.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from finesim._util.errors import FinesimError
from finesim.models import registry


@dataclass(frozen=True)
class EncoderSpec:
    """What ``Encoder(...)`` is called with: a model name or folder and how to load it.

    ``pooling`` None: the folder's own (mean for a plain transformers folder); ``backend``
    None: an exported folder's own choice, else torch; ``max_length`` None: the model's
    limit; ``normalize`` None: the model's own choice; ``whitening`` False leaves out a
    saved whitening layer; ``truncate_dim`` keeps the first N components (Matryoshka).
    """

    model: str = registry.DEFAULT_MODEL
    pooling: str | None = None
    trust_pickle: bool = False
    backend: str | None = None
    whitening: bool = True
    max_length: int | None = None
    normalize: bool | None = None
    truncate_dim: int | None = None

    def replace(self, **changes: Any) -> EncoderSpec:
        """A copy with some fields changed (unknown names are an error)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FinesimError(f"unknown encoder setting {unknown[0]!r}")
        return EncoderSpec(**{**asdict(self), **changes})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, where: str = "encoder spec") -> EncoderSpec:
        """Read back what ``to_json`` wrote; a bad value names the field."""
        if not isinstance(data, dict):
            raise FinesimError(f"{where}: expected an object, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise FinesimError(f"{where}: unknown field {unknown[0]!r}")
        checks: dict[str, tuple[type, ...]] = {
            "model": (str,),
            "pooling": (str, type(None)),
            "trust_pickle": (bool,),
            "backend": (str, type(None)),
            "whitening": (bool,),
            "max_length": (int, type(None)),
            "normalize": (bool, type(None)),
            "truncate_dim": (int, type(None)),
        }
        for name, value in data.items():
            ok = isinstance(value, checks[name])
            if name in ("max_length", "truncate_dim") and isinstance(value, bool):
                ok = False  # bool is an int subclass
            if not ok:
                raise FinesimError(f"{where}: field {name!r} has a bad value {value!r}")
        return cls(**data)
