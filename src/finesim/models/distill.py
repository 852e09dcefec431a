"""A static embedding model distilled from any encoder, the model2vec way.

Each vocabulary token (and each frequent corpus word, ``static_vocab``) is run through the
teacher alone, as ``[CLS] token [SEP]`` (whatever the teacher's template), and the teacher's
sentence vector for it (its own pooling and Dense layers) becomes the token's row. The rows are
then rotated and cut by PCA to ``dim``, and weighted by SIF (Arora et al. 2017) with a Zipf
estimate of each token's frequency from its rank (the vocabulary's id order): frequent tokens
("the", "of") get small vectors, so a text's mean is carried by its rarer words; the unknown
token's row is zero. The result is a sentence-transformers ``StaticEmbedding`` + ``Normalize``
model: a table lookup and a mean at run time, no transformer.

Deterministic: no sampling anywhere (the PCA is an eigendecomposition, its signs fixed).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, normalizers

from finesim._util.atomic import save_folder
from finesim._util.errors import FinesimError
from finesim._util.progress import progress_bar
from finesim.models.encoder import Encoder
from finesim.models.st_format import Parts, save_parts
from finesim.models.static_vocab import (
    corpus_words,
    extend_vocabulary,
    kept_ids,
    static_tokenizer,
)
from finesim.models.towers import Route, StaticTower, TransformerTower, pad

RECORD_FILE = "finesim_distill.json"


@dataclass(frozen=True)
class DistillSettings:
    """How to distil. ``sif``: the SIF coefficient (None: no frequency weighting); ``vocab``:
    a corpus file whose frequent unknown words join the vocabulary (at most ``max_words``,
    each seen ``min_count`` times; ``vocab_field``: its jsonl field or column)."""

    dim: int = 256
    sif: float | None = 1e-4
    vocab: Path | None = None
    max_words: int = 20_000
    min_count: int = 2
    vocab_field: str = "text"
    batch_size: int = 256


def template(tokenizer: Tokenizer) -> tuple[list[int], list[int]]:
    """The special ids the teacher puts before and after one text's tokens ([CLS], [SEP])."""
    probe = "hello world"
    content = tokenizer.encode(probe, add_special_tokens=False).ids
    full = tokenizer.encode(probe).ids
    for start in range(len(full) - len(content) + 1):
        if full[start : start + len(content)] == content:
            return full[:start], full[start + len(content) :]
    raise FinesimError("the teacher's tokenizer adds tokens inside a text; cannot distil it")


def teacher_vectors(
    teacher: Encoder,
    inputs: Sequence[list[int]],
    batch_size: int = 256,
    show_progress: bool | None = None,
) -> np.ndarray:
    """The teacher's unnormalised sentence vector for each id sequence, in input order,
    batched by length (a progress bar over the ~30k inputs of a BERT vocabulary)."""
    tower = teacher._route(None).tower
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    out = np.zeros((len(inputs), teacher.full_dim), dtype=np.float32)
    show = len(inputs) >= 2048 if show_progress is None else show_progress
    with progress_bar(show, len(inputs), "distilling") as advance, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = [SimpleNamespace(ids=inputs[i], type_ids=[0] * len(inputs[i])) for i in rows]
            vectors = teacher.forward(pad(batch, tower.tokenizer), normalize=False)
            out[rows] = vectors.float().cpu().numpy()
            if advance is not None:
                advance(len(rows))
    return out


def pca(vectors: np.ndarray, dim: int) -> np.ndarray:
    """``vectors`` centred and projected on their ``dim`` leading principal axes (float64
    eigendecomposition of the covariance); each axis signed so that its largest score is
    positive, so the result does not depend on the solver's sign choice."""
    x = vectors.astype(np.float64)
    centred = x - x.mean(axis=0)
    values, axes = np.linalg.eigh(centred.T @ centred / max(len(x) - 1, 1))
    axes = axes[:, np.argsort(values)[::-1][:dim]]
    scores = centred @ axes
    peak = np.abs(scores).argmax(axis=0)
    signs = np.sign(scores[peak, np.arange(scores.shape[1])])
    signs[signs == 0] = 1.0
    return scores * signs


def sif_weights(count: int, sif: float | None) -> np.ndarray:
    """SIF weights ``a / (a + p(rank))`` with ``p`` Zipf's law over ``count`` ranked tokens
    (rank 1 the most frequent): ones when ``sif`` is None."""
    if sif is None:
        return np.ones(count)
    zipf = 1.0 / np.arange(2, count + 2)
    return sif / (sif + zipf / zipf.sum())


def unknown_id(tokenizer: Tokenizer) -> int | None:
    """The id of the tokenizer's unknown token ([UNK]), if its model has one.

    Why: an unknown piece says nothing about a text, yet its row (the teacher's vector of
    ``[CLS] [UNK] [SEP]``) would pull every text with one towards the same point. Its row is
    zero, so it leaves the direction of a normalised mean as model2vec leaves it out."""
    token = json.loads(tokenizer.to_str()).get("model", {}).get("unk_token")
    return None if token is None else tokenizer.token_to_id(token)


def _check(teacher: Encoder, settings: DistillSettings) -> TransformerTower:
    tower = teacher._route(None).tower
    if teacher.router is not None or not isinstance(tower, TransformerTower):
        raise FinesimError(f"{teacher.source}: distil from a one-transformer model")
    if not 1 <= settings.dim <= teacher.full_dim:
        raise FinesimError(
            f"--dim {settings.dim}: must be 1..{teacher.full_dim} (the teacher's dimensions)"
        )
    if settings.sif is not None and not 0 < settings.sif < 1:
        raise FinesimError(f"sif {settings.sif}: must be between 0 and 1 (or none)")
    return tower


def distill_tower(
    teacher: Encoder, settings: DistillSettings, show_progress: bool | None = None
) -> tuple[StaticTower, dict[str, Any]]:
    """The static tower distilled from ``teacher`` and a record of what was done."""
    tower = _check(teacher, settings)
    fast = static_tokenizer(tower.tokenizer_json())
    if tower.do_lower_case:  # the teacher lower-cased texts itself: so must the table's users
        steps = [normalizers.Lowercase()] + ([fast.normalizer] if fast.normalizer else [])
        fast.normalizer = normalizers.Sequence(steps)
    prefix, suffix = template(fast)
    ids = kept_ids(fast)
    inputs = [[*prefix, i, *suffix] for i in ids]
    words: list[str] = []
    if settings.vocab is not None:
        words = corpus_words(
            fast,
            settings.vocab,
            max_words=settings.max_words,
            min_count=settings.min_count,
            field=settings.vocab_field,
        )
        inputs += [fast.encode(w).ids[: tower.max_length] for w in words]
        start = fast.get_vocab_size()
        fast = extend_vocabulary(fast, words)
        ids += list(range(start, start + len(words)))
    if settings.dim >= len(ids):
        raise FinesimError(f"--dim {settings.dim}: must be below the {len(ids)} tokens")
    vectors = teacher_vectors(teacher, inputs, settings.batch_size, show_progress)
    rows = pca(vectors, settings.dim) * sif_weights(len(ids), settings.sif)[:, None]
    table = np.zeros((fast.get_vocab_size(), settings.dim), dtype=np.float32)
    table[ids] = rows
    unknown = unknown_id(fast)
    if unknown is not None:  # a zero row: unknown pieces drop out of a normalised mean
        table[unknown] = 0.0
    record = {
        "teacher": teacher.source,
        "teacher_fingerprint": teacher.fingerprint(),
        **{k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
        "tokens": len(ids),
        "corpus_words": len(words),
        "rows": int(table.shape[0]),
    }
    return StaticTower(fast, torch.from_numpy(table)), record


def static_encoder(tower: StaticTower, source: str) -> Encoder:
    """An Encoder of ``tower`` (StaticEmbedding then Normalize), read back from a temporary
    sentence-transformers folder, so it is exactly what a saved folder loads as."""
    with tempfile.TemporaryDirectory(prefix="finesim-static-") as tmp:
        save_parts(Path(tmp), Parts({"default": Route(tower, [], False)}, None, [], True))
        encoder = Encoder(tmp)
    encoder.source = source
    return encoder


def distill(
    teacher: Encoder,
    dim: int = 256,
    vocab: Path | None = None,
    *,
    settings: DistillSettings | None = None,
    show_progress: bool | None = None,
) -> Encoder:
    """A static ``Encoder`` distilled from ``teacher`` (``dim`` and ``vocab`` as in
    ``DistillSettings``; ``settings`` gives them all, and wins)."""
    settings = settings or DistillSettings(dim=dim, vocab=vocab)
    tower, _ = distill_tower(teacher, settings, show_progress)
    return static_encoder(tower, f"{teacher.source}:static-{settings.dim}")


def save_distilled(
    encoder: Encoder, out: Path, record: dict[str, Any], *, overwrite: bool = False
) -> Path:
    """``encoder`` written to ``out`` atomically, with the distillation ``record`` beside it
    (``finesim_distill.json``: the teacher and settings it came from)."""

    def fill(folder: Path) -> None:
        encoder.write_folder(folder)
        (folder / RECORD_FILE).write_text(json.dumps(record, indent=2))

    return save_folder(out, overwrite, fill)
