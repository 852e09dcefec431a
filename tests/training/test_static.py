"""Training a static model (a StaticEmbedding table) with the usual losses and loop, and the
one thing it refuses: unsupervised SimCSE, which needs dropout a table does not have."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from finesim import Encoder, FinesimError
from finesim.data.example import Example
from finesim.models.distill import distill
from finesim.training import TrainConfig, train
from finesim.training.static import has_dropout, refuse_unsupervised_simcse
from tests.helpers import SENTENCES

DISTINCT = list(dict.fromkeys(SENTENCES))


@pytest.fixture(scope="module")
def static_folder(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("static") / "model"
    distill(Encoder(tiny_bert, pooling="mean", normalize=True), dim=16).save(out)
    return out


def _pairs() -> list[Example]:
    """Each sentence paired with the next one: a mapping the table has to learn."""
    rows = [s for s in DISTINCT if len(s.split()) > 1]
    return [
        Example({"anchor": s, "positive": rows[(i + 1) % len(rows)]}) for i, s in enumerate(rows)
    ]


def _losses(out):
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if "loss" in r]


def test_refuses_unsupervised_simcse_on_a_table(static_folder, tiny_st):
    static = Encoder(static_folder)
    assert not has_dropout(static) and has_dropout(Encoder(tiny_st))
    same = [Example({"anchor": s, "positive": s}) for s in DISTINCT]
    for data, fmt in ((same, "pairs"), (same[:1], "text")):
        with pytest.raises(FinesimError, match="no dropout, so unsupervised SimCSE"):
            refuse_unsupervised_simcse(static, data, fmt)
    refuse_unsupervised_simcse(static, _pairs(), "pairs")  # real pairs train a table
    refuse_unsupervised_simcse(Encoder(tiny_st), same, "text")  # a transformer has dropout
    config = TrainConfig(format="text", batch_size=4, max_steps=1)
    with pytest.raises(FinesimError, match="StaticEmbedding model has no dropout"):
        train(config, str(static_folder), static_folder.parent / "run", examples=same)


def test_training_moves_only_the_rows_of_seen_tokens(static_folder, tmp_path):
    config = TrainConfig(
        batch_size=8, epochs=12, lr=0.2, weight_decay=0.0, warmup_steps=0, log_every=1
    )
    out = tmp_path / "run"
    train(config, str(static_folder), out, examples=_pairs(), show_progress=False)
    losses = _losses(out)
    assert len(losses) == 12 and losses[-1] < losses[0] / 4
    before = load_file(str(static_folder / "model.safetensors"))["embedding.weight"]
    after = load_file(str(out / "last" / "model.safetensors"))["embedding.weight"]
    assert before.shape == after.shape
    tokenizer = Encoder(static_folder).tokenizer
    seen = {
        i
        for e in _pairs()
        for t in e.texts.values()
        for i in tokenizer.encode(t, add_special_tokens=False).ids
    }
    changed = {int(i) for i in np.flatnonzero(np.abs(after - before).max(axis=1) > 0)}
    assert changed == seen  # every seen token's row moved, no other row did
    assert (out / "last" / "tokenizer.json").read_text() == (
        static_folder / "tokenizer.json"
    ).read_text()
    trained = Encoder(out / "last")
    assert trained.info()["architecture"] == "StaticEmbedding" and trained.dim == 16


def test_finesim_train_on_a_static_folder(cli, static_folder, tmp_path):
    """The command line as a user runs it: a static table's learning rate and Matryoshka dims
    through --set, GradCache mini-batches on a table."""
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(e.texts) + "\n" for e in _pairs()))
    out = tmp_path / "run"
    settings = ["lr=0.2", "matryoshka_dims=[16, 8, 4]", "batch_size=8", "mini_batch=4"]
    settings += ["epochs=4", "log_every=1"]
    args = [f"--set={s}" for s in settings]
    code, _, err = cli("train", "-m", static_folder, "-o", out, "--data", data, *args)
    assert code == 0, err
    losses = _losses(out)
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert Encoder(out / "last").dim == 16
