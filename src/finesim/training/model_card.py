"""Model cards: the ``README.md`` in every folder the trainer saves (``last/``, ``best/``).

Why: a saved model is copied, uploaded and compared long after its run; the card keeps how it
was made beside the weights (base model, recipe and every setting, the data files with their
SHA-256, the evaluator's figures, the versions) and reads as a Hugging Face model card (YAML
front matter), which sentence-transformers ignores when it loads the folder.

Plain functions: the trainer gathers the facts into a ``Card`` and writes ``render(card)``
inside the same atomic folder write as the weights, so a card never describes other weights
and a crash never leaves half of one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata as md
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from finesim._util.version import VERSION
from finesim.data.pairs import BUILTIN_FILES
from finesim.data.paths import data_root
from finesim.models.registry import NAMES
from finesim.training.config import TrainConfig

FILENAME = "README.md"
_CHUNK = 1 << 20
# Hub ids of the data sets behind the built-in sources, where they are certain
DATASETS = {
    "snli-triples": "stanfordnlp/snli",
    "snli-labelled": "stanfordnlp/snli",
    "snli-dev": "stanfordnlp/snli",
    "stsb-train": "sentence-transformers/stsb",
}
# evaluator -> (model-index task type, task name)
_TASKS = {
    "stsb-dev": ("sentence-similarity", "Semantic Similarity"),
    "csfcube-dev": ("text-retrieval", "Faceted Query-by-Example Retrieval"),
    "snli-dev": ("text-classification", "Natural Language Inference"),
}


@dataclass
class Card:
    """What a card says. ``best`` and ``last`` are the evaluator's records, as the trainer logs
    them to metrics.jsonl (``step``, ``epoch``, ``eval``: the metric, ``score``)."""

    path: str  # where the folder is saved (the usage snippets load it from there)
    base_model: str  # as given to the trainer: a name (minilm), a hub id or a folder
    config: TrainConfig
    data: dict[str, Any]  # from describe_data
    step: int  # the step of the weights in this folder
    run_steps: int  # the steps the run had done when the card was written
    total_steps: int
    seconds: float  # training wall time up to this save, over all resumed runs
    best: dict[str, Any] | None = None  # the evaluation where the best score was reached
    last: dict[str, Any] | None = None  # the latest evaluation


def sha256_file(path: Path) -> str:
    """The file's SHA-256, read 1 MiB at a time (a training file may not fit in memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe_data(source: str, examples: int | None) -> dict[str, Any]:
    """The training data as a card lists it: the source, its files (path, bytes, SHA-256),
    the number of examples and the hub data set, where known. Computed once per run."""
    if source in BUILTIN_FILES:
        paths = [data_root() / name for name in BUILTIN_FILES[source]]
    else:
        paths = [Path(source)] if source else []
    files = [
        {"path": str(p), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
        for p in paths
        if p.is_file()
    ]
    return {"source": source, "examples": examples, "files": files, "dataset": DATASETS.get(source)}


def hub_id(model: str) -> str | None:
    """The hub id of a base model given by name or id; None for a local folder."""
    if model in NAMES:
        return NAMES[model]
    if re.fullmatch(r"[\w.-]+/[\w.-]+", model) and not Path(model).exists():
        return model
    return None


def write(folder: Path, card: Card) -> None:
    """``README.md`` in ``folder`` (the temp folder of an atomic write, not yet swapped in)."""
    (folder / FILENAME).write_text(render(card), encoding="utf-8")


def render(card: Card) -> str:
    """The card: YAML front matter, then the sections."""
    sections = [
        _overview(card),
        _recipe(card.config),
        _data(card.data),
        _evaluation(card),
        _training(card),
        _versions(),
        _cross_usage(card.path) if card.config.kind == "cross" else _usage(card.path),
    ]
    front = yaml.safe_dump(_front_matter(card), sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n" + "\n\n".join(sections) + "\n"


def _own_figure(card: Card) -> dict[str, Any] | None:
    """The evaluation of the weights in this folder, if one was made at their step."""
    for record in (card.best, card.last):
        if record is not None and record["step"] == card.step:
            return record
    return None


def _front_matter(card: Card) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "library_name": "sentence-transformers",
        "tags": ["sentence-transformers", "sentence-similarity", "feature-extraction", "finesim"],
        "pipeline_tag": "sentence-similarity",
    }
    if card.config.kind == "cross":
        meta["tags"] = ["sentence-transformers", "cross-encoder", "reranker", "finesim"]
        meta["pipeline_tag"] = "text-ranking"
    base = hub_id(card.base_model)
    if base is not None:
        meta["base_model"] = base
    if card.data.get("dataset"):
        meta["datasets"] = [card.data["dataset"]]
    own = _own_figure(card)
    if card.best is not None:
        meta["metrics"] = [card.best["eval"]]
    if own is not None:
        evaluator = card.config.evaluator
        task, task_name = _TASKS.get(evaluator.split(":")[0], ("sentence-similarity", evaluator))
        meta["model-index"] = [
            {
                "name": f"finesim fine-tune of {base or Path(card.base_model).name}",
                "results": [
                    {
                        "task": {"type": task, "name": task_name},
                        "dataset": {"name": evaluator, "type": evaluator},
                        "metrics": [
                            {
                                "type": own["eval"],
                                "value": own["score"],
                                "name": f"{own['eval']} ({evaluator}, step {own['step']})",
                            }
                        ],
                    }
                ],
            }
        ]
    return meta


def _code(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return f"`{text}`" if text else '`""`'


def _overview(card: Card) -> str:
    name = Path(card.path).name
    if name == "best":
        what = f"the best evaluation of the run ({card.config.evaluator}), at step {card.step}"
    else:
        done = "the final model" if card.step >= card.total_steps else "the latest checkpoint"
        what = f"{done}, at step {card.step} of {card.total_steps}"
    base = hub_id(card.base_model)
    known = f" ({base})" if base and base != card.base_model else ""
    return (
        f"# {name}: a finesim fine-tune of {base or Path(card.base_model).name}\n\n"
        f"A sentence-transformers model trained with finesim. This folder holds {what}.\n\n"
        f"## Base model\n\n{_code(card.base_model)}{known}"
    )


def _recipe(config: TrainConfig) -> str:
    rows = [
        f"| {f.name} | {_code(getattr(config, f.name))} |"
        for f in dataclasses.fields(config)
        if f.name != "recipe"
    ]
    recipe = _code(config.recipe) if config.recipe else "none (settings given directly)"
    return (
        f"## Recipe\n\nRecipe: {recipe}. Every setting of the run:\n\n"
        "| setting | value |\n|---|---|\n" + "\n".join(rows)
    )


def _data(data: dict[str, Any]) -> str:
    source = _code(data["source"]) if data["source"] else "examples passed in memory"
    lines = [f"## Training data\n\nSource: {source}"]
    if data.get("examples") is not None:
        lines[0] += f", {data['examples']} examples"
    if data.get("dataset"):
        lines[0] += f" (from the hub data set {data['dataset']})"
    lines[0] += "."
    if data["files"]:
        lines.append("| file | bytes | sha256 |\n|---|---|---|")
        lines[-1] += "".join(
            f"\n| {f['path']} | {f['bytes']} | {f['sha256']} |" for f in data["files"]
        )
    else:
        lines.append("No data file to hash.")
    return "\n\n".join(lines)


def _evaluation(card: Card) -> str:
    if not card.config.evaluator:
        return "## Evaluation\n\nNo evaluator was set: no figures were measured during training."
    if card.best is None or card.last is None:
        return f"## Evaluation\n\nEvaluator {_code(card.config.evaluator)}: not run yet."
    metric = card.best["eval"]
    rows = [
        f"| {label} | {r['step']} | {r['epoch']} | {r['score']} |"
        for label, r in (("best", card.best), ("last evaluation", card.last))
    ]
    return (
        f"## Evaluation\n\nEvaluator {_code(card.config.evaluator)}, which chooses best/ "
        f"(metric: {metric}).\n\n"
        f"| | step | epoch | {metric} |\n|---|---|---|---|\n" + "\n".join(rows)
    )


def _training(card: Card) -> str:
    return (
        f"## Training\n\nWhen this card was written the run had done {card.run_steps} of "
        f"{card.total_steps} steps in {card.seconds:.1f} wall seconds of training (over all "
        f"resumed runs); the weights here are from step {card.step}."
    )


def _version(package: str) -> str:
    try:
        return md.version(package)
    except md.PackageNotFoundError:
        return "not installed"


def _versions() -> str:
    return (
        f"## Versions\n\nfinesim {VERSION}, torch {_version('torch')}, "
        f"transformers {_version('transformers')}, "
        f"sentence-transformers {_version('sentence-transformers')}."
    )


def _usage(path: str) -> str:
    where = json.dumps(path)
    return (
        "## Usage\n\nWith finesim:\n\n```python\nimport finesim\n\n"
        f"encoder = finesim.Encoder({where})\n"
        'vectors = encoder.encode(["A first sentence.", "A second one."])\n```\n\n'
        "With sentence-transformers:\n\n```python\n"
        "from sentence_transformers import SentenceTransformer\n\n"
        f"model = SentenceTransformer({where})\n"
        'vectors = model.encode(["A first sentence.", "A second one."])\n```'
    )


def _cross_usage(path: str) -> str:
    where = json.dumps(path)
    return (
        "## Usage\n\nA cross-encoder: it scores (or classifies) pairs of texts.\n\n"
        f"With finesim:\n\n```python\nimport finesim\n\nmodel = finesim.CrossEncoder({where})\n"
        'scores = model.predict([("A query.", "A passage."), ("A query.", "Another.")])\n```\n\n'
        "With sentence-transformers:\n\n```python\n"
        "from sentence_transformers import CrossEncoder\n\n"
        f"model = CrossEncoder({where})\n"
        'scores = model.predict([("A query.", "A passage."), ("A query.", "Another.")])\n```'
    )
