"""Hybrid faceted scoring: several similarity terms fused into one score per candidate.

Why: each scorer sees something the others miss (the whole abstract's topic, the best
matching facet sentences, exact technical words). A preset names the terms and their weights;
fusion is a weighted sum of per-query min-max normalised scores (``weighted``), a weighted sum
of per-query z-scores (``zscore``: mean 0, standard deviation 1 over the candidates, so a
term's scale comes from all its scores, not only the two extremes as with min-max), or
weighted reciprocal-rank fusion (``rrf``: sum of w / (k + rank)).

Terms (higher = more similar):

- ``abstract``: cosine of the whole-document vectors (title + abstract);
- ``min-l2``, ``max-sim``, ``mean-vec``, ``ot``: the facet-sentence scorers of ``scoring.py``;
- ``facet-abstract``: mean cosine of the query's facet sentences with the candidate's whole
  vector;
- ``facet-mean``: cosine of the mean of the query's facet sentences with the mean of the
  candidate's sentences *of the same facet* (all of them if it has none): the one term that
  uses the candidate's facet labels too;
- ``facet-text``: cosine of the query's facet sentences encoded as one text with the
  candidate's whole vector (needs ``Doc``-external vectors, passed in ``extra``);
- ``title``: cosine of the query's title vector with the candidate's title vector (titles
  name a paper's topic and method tersely; callers pass it in ``extra``);
- ``bm25``: BM25 of the query's title + abstract against the candidate's title + abstract;
- ``bm25-facet``: BM25 of the query's facet sentences against the candidate's text.

Lexical, ``title`` and ``facet-text`` scores need texts, so callers compute them and pass them in
``extra``; every other term is computed here from the vectors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finesim._util.errors import FinesimError
from finesim.docsim.docs import Doc
from finesim.docsim.scoring import Match, score_candidates, unit

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable  # 3.11+; annotations only

SENTENCE_TERMS = ("min-l2", "max-sim", "mean-vec", "ot")
VECTOR_TERMS = ("abstract", *SENTENCE_TERMS, "facet-abstract", "facet-mean")
EXTERNAL_TERMS = ("facet-text", "title", "bm25", "bm25-facet")
TERMS = (*VECTOR_TERMS, *EXTERNAL_TERMS)
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

    def __post_init__(self) -> None:
        unknown = [t for t in self.weights if t not in TERMS]
        if unknown:
            raise ValueError(f"unknown term {unknown[0]!r}; terms: {', '.join(TERMS)}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; one of {', '.join(FUSIONS)}")
        if not all(np.isfinite(w) for w in self.weights.values()):
            raise ValueError("weights must be finite numbers")
        # negative weights are allowed: a learned fusion (``finesim.evaluation.learned``) may
        # subtract a term that overlaps others
        if not any(w > 0 for w in self.weights.values()):
            raise ValueError("a preset needs at least one term with a positive weight")
        if self.rrf_k <= 0:
            raise ValueError("rrf_k must be > 0")

    @property
    def terms(self) -> list[str]:
        """The terms with a non-zero weight, in ``TERMS`` order."""
        return [t for t in TERMS if self.weights.get(t, 0.0) != 0]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "fusion": self.fusion}
        out["weights"] = {t: float(self.weights[t]) for t in self.terms}
        if self.fusion == "rrf":
            out["rrf_k"] = self.rrf_k
        if self.note:
            out["note"] = self.note
        return out


def _shipped() -> Traversable:
    return resources.files("finesim") / "docsim" / "presets"


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
        return Preset(
            weights={str(k): float(v) for k, v in data["weights"].items()},
            fusion=str(data.get("fusion", "weighted")),
            rrf_k=float(data.get("rrf_k", 60.0)),
            name=str(data.get("name", path.stem)),
            note=dict(data.get("note", {})),
        )
    except (OSError, json.JSONDecodeError) as e:
        raise FinesimError(f"{path}: cannot read the preset ({e})") from None
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise FinesimError(f"{path}: bad preset ({e}); expected weights {{term: w}}") from None


def normalise(scores: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] within one query's candidates (all equal: all 0)."""
    low, high = float(scores.min()), float(scores.max())
    if high - low <= 1e-12:
        return np.zeros_like(scores, dtype=np.float64)
    return (scores - low) / (high - low)


def standardise(scores: np.ndarray) -> np.ndarray:
    """Z-scores within one query's candidates (all equal: all 0)."""
    spread = float(scores.std())
    if spread <= 1e-12:
        return np.zeros_like(scores, dtype=np.float64)
    return (scores - scores.mean()) / spread


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks, best first (ties broken by position, as the rankings are)."""
    order = np.argsort(-scores, kind="stable")
    out = np.empty(len(scores), dtype=np.float64)
    out[order] = np.arange(1, len(scores) + 1)
    return out


def fuse(terms: Mapping[str, np.ndarray], preset: Preset) -> np.ndarray:
    """One score per candidate from the term scores the preset uses."""
    missing = [t for t in preset.terms if t not in terms]
    if missing:
        raise ValueError(f"no scores for term {missing[0]!r}")
    n = len(terms[preset.terms[0]])
    total = np.zeros(n, dtype=np.float64)
    for term in preset.terms:
        weight = float(preset.weights[term])
        values = np.asarray(terms[term], dtype=np.float64)
        if preset.fusion == "rrf":
            total += weight / (preset.rrf_k + ranks(values))
        elif preset.fusion == "zscore":
            total += weight * standardise(values)
        else:
            total += weight * normalise(values)
    return total


def term_scores(
    query: Doc,
    candidates: Sequence[Doc],
    terms: Sequence[str],
    *,
    facet: str | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Raw scores of each term in ``terms``; ``extra`` supplies the text-based terms."""
    out: dict[str, np.ndarray] = {}
    for term in terms:
        if term in EXTERNAL_TERMS:
            if extra is None or term not in extra:
                raise ValueError(f"term {term!r} needs its scores passed in (extra)")
            out[term] = np.asarray(extra[term], dtype=np.float64)
        elif term == "facet-abstract":
            out[term] = _facet_abstract(query, candidates, facet)
        elif term == "facet-mean":
            out[term] = _facet_mean(query, candidates, facet)
        else:
            out[term] = score_candidates(query, candidates, term, facet=facet)[0]
    return out


def _facet_abstract(query: Doc, candidates: Sequence[Doc], facet: str | None) -> np.ndarray:
    if any(c.whole is None for c in candidates):
        raise ValueError("term 'facet-abstract' needs a whole-document vector for every candidate")
    q = unit(query.restrict(facet)[0].vectors.astype(np.float64))
    c = unit(np.stack([d.whole for d in candidates]).astype(np.float64))  # type: ignore[misc]
    return (q @ c.T).mean(axis=0)


def _mean_unit(doc: Doc, facet: str | None) -> np.ndarray:
    return unit(unit(doc.restrict(facet)[0].vectors.astype(np.float64)).mean(axis=0))


def _facet_mean(query: Doc, candidates: Sequence[Doc], facet: str | None) -> np.ndarray:
    c = np.stack([_mean_unit(d, facet) for d in candidates])
    return c @ _mean_unit(query, facet)


def hybrid_scores(
    query: Doc,
    candidates: Sequence[Doc],
    preset: Preset,
    *,
    facet: str | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    explain: int = 0,
) -> tuple[np.ndarray, list[list[Match]] | None]:
    """Fused scores of ``candidates``; with ``explain``, the best aligned sentence pairs of
    the sentence term with the largest weight (``max-sim`` if the preset has none)."""
    scores = fuse(term_scores(query, candidates, preset.terms, facet=facet, extra=extra), preset)
    if not explain:
        return scores, None
    why = explaining_term(preset)
    return scores, score_candidates(query, candidates, why, facet=facet, explain=explain)[1]


def explaining_term(preset: Preset) -> str:
    """The scorer whose sentence pairs explain a hit: the preset's sentence term with the
    largest positive weight, ``max-sim`` if it has none."""
    used = [t for t in SENTENCE_TERMS if preset.weights.get(t, 0.0) > 0]
    return max(used, key=lambda t: preset.weights[t]) if used else "max-sim"
