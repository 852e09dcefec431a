"""Training cross-encoders through finesim's trainer: recipes cross-sts, cross-nli, cross-rerank."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from finesim import CrossEncoder, FinesimError
from finesim.data.example import Example
from finesim.training import cross, load_config, train
from tests.helpers import SENTENCES, require_module

st = require_module("sentence_transformers", "loads the folders the trainer saves")

PAIRS = [(a, b) for a in SENTENCES[:6] for b in SENTENCES[3:9]]


def _examples(n=64, label=lambda i: float(i % 6)):
    return [
        Example(
            {
                "anchor": SENTENCES[i % 30],
                "positive": SENTENCES[(7 * i + 3) % 30],
                "negative": SENTENCES[(3 * i + 1) % 30],
            },
            label(i),
        )
        for i in range(n)
    ]


def _config(recipe, *settings):
    base = ["evaluator=''", "lr=1e-3", "log_every=1", "checkpoint_every=0", "warmup_ratio=0.0"]
    return load_config(recipe, [*base, *settings])


def _losses(out):
    records = map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
    return [r["loss"] for r in records if "loss" in r]


def test_cross_recipes_load():
    sts, nli, rerank = (load_config(f"cross-{name}") for name in ("sts", "nli", "rerank"))
    assert (sts.kind, sts.loss, sts.loss_args, sts.batch_size, sts.epochs) == (
        "cross",
        "bce",
        {"max_score": 5.0},
        16,
        4,
    )
    assert (nli.loss, nli.data, nli.evaluator) == ("cross-entropy", "snli-dev", "")
    assert (rerank.loss, rerank.format) == ("multiple-negatives", "triples")
    for config in (sts, nli, rerank):  # each chooses best/ on dev data, or not at all
        cross.build_evaluator(config.evaluator, config.data)


def test_a_few_steps_reduce_the_loss_and_sentence_transformers_loads_the_result(
    tiny_bert, tmp_path
):
    """cross-sts from a plain BERT (fresh head): the loss falls over a few epochs on one
    repeated batch; last/ loads in sentence-transformers with the same scores."""
    examples = _examples(16, label=lambda i: 5.0 * (i % 2))  # relevant or not: BCE can reach 0
    out = tmp_path / "run"
    config = _config("cross-sts", "epochs=12", "lr=1e-2")
    summary = train(config, str(tiny_bert), out, examples=examples)
    losses = _losses(out)
    assert summary["steps"] == 12 and np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    ours = CrossEncoder(out / "last")
    theirs = st.CrossEncoder(str(out / "last"), device="cpu")
    np.testing.assert_allclose(ours.predict(PAIRS), theirs.predict(PAIRS), atol=1e-5)
    assert float(np.ptp(theirs.predict(PAIRS))) > 1e-3  # scores differ: the check can fail
    card = (out / "last" / "README.md").read_text()
    assert "cross-encoder" in card and "finesim.CrossEncoder(" in card


def test_nli_head_has_three_named_labels(tiny_bert, tmp_path):
    examples = _examples(32, label=lambda i: float(i % 3))
    config = _config("cross-nli", "max_steps=4", "format=labelled")
    train(config, str(tiny_bert), tmp_path / "run", examples=examples)
    folder = tmp_path / "run" / "last"
    theirs = st.CrossEncoder(str(folder), device="cpu")
    assert theirs.num_labels == 3
    assert theirs.model.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    np.testing.assert_allclose(
        CrossEncoder(folder).predict(PAIRS), theirs.predict(PAIRS), atol=1e-5
    )


def test_resume_after_a_crash_gives_the_uninterrupted_weights(tiny_bert, tmp_path, monkeypatch):
    """Multiple-negatives ranking (random in-batch draws) with dropout on: a run that dies in
    step 4, resumed from its checkpoint at step 2, ends with the uninterrupted run's weights."""
    examples = _examples(24)
    settings = ("batch_size=8", "epochs=2", "checkpoint_every=2")
    whole = tmp_path / "whole"
    train(_config("cross-rerank", *settings), str(tiny_bert), whole, examples=examples)

    real, calls = cross.backward, []

    def dies_in_step_4(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    killed = tmp_path / "killed"
    monkeypatch.setattr(cross, "backward", dies_in_step_4)
    with pytest.raises(KeyboardInterrupt):
        train(_config("cross-rerank", *settings), str(tiny_bert), killed, examples=examples)
    monkeypatch.setattr(cross, "backward", real)
    summary = train(
        _config("cross-rerank", *settings), str(tiny_bert), killed, resume=True, examples=examples
    )
    assert summary["steps"] == 6
    a = load_file(str(whole / "last" / "trainer_model.safetensors"))
    b = load_file(str(killed / "last" / "trainer_model.safetensors"))
    assert a.keys() == b.keys()
    assert max(float(np.abs(a[k] - b[k]).max()) for k in a) <= 1e-6
    lines = (killed / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == list(range(1, 7))
    assert _losses(killed) == pytest.approx(_losses(whole), abs=1e-6)


@pytest.mark.needs_data("sts")
def test_stsb_dev_evaluator_keeps_the_best(tiny_bert, tmp_path):
    out = tmp_path / "run"
    config = _config("cross-sts", "epochs=2", "evaluator=stsb-dev")
    summary = train(config, str(tiny_bert), out, examples=_examples(32))
    evals = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals if "eval" in e] == [2, 4]
    assert summary["best"] is not None and (out / "best" / "modules.json").is_file()
    st.CrossEncoder(str(out / "best"), device="cpu")


def test_bad_settings_and_data_are_one_line_errors(tiny_bert, tmp_path):
    model, examples = str(tiny_bert), _examples(16)
    cases = [
        (["loss=infonce"], "not a cross-encoder loss"),
        (["mini_batch=4"], "mini_batch"),
        (["evaluator=stsb-test"], "use stsb-dev"),
        (["kind=tri"], "kind 'tri'"),
        (["loss_args={max_score: 1.0}"], r"label 2 outside \[0, 1\].*max_score"),
        (["loss_args={max_scor: 5}"], "loss_args for bce"),
    ]
    for number, (settings, message) in enumerate(cases):
        with pytest.raises(FinesimError, match=message):
            train(_config("cross-sts", *settings), model, tmp_path / str(number), examples=examples)
    unlabelled = _examples(16, label=lambda i: None)
    with pytest.raises(FinesimError, match="loss mse needs a label"):
        config = _config("cross-sts", "loss=mse", "loss_args={}")
        train(config, model, tmp_path / "mse", examples=unlabelled)
    nli = _examples(16, label=lambda i: float(i % 3))
    with pytest.raises(FinesimError, match="training data"):
        train(_config("cross-nli", "evaluator=snli-dev"), model, tmp_path / "nli", examples=nli)
    with pytest.raises(FinesimError, match="class id 0.5"):
        halves = _examples(16, label=lambda i: 0.5)
        train(_config("cross-nli"), model, tmp_path / "half", examples=halves)


def test_finesim_train_command_runs_a_cross_recipe(cli, tiny_bert, tmp_path):
    data = tmp_path / "scored.jsonl"
    rows = [{"sentence1": a, "sentence2": b, "score": i % 6} for i, (a, b) in enumerate(PAIRS)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["train", "--recipe", "cross-sts", "-m", tiny_bert, "--data", data]
    code, out, err = cli(*args, "--out", tmp_path / "run", "--set", "max_steps=2", "--json")
    assert code == 0, err
    assert json.loads(out)["steps"] == 2
    assert (tmp_path / "run" / "last" / "config_sentence_transformers.json").is_file()
    code, _, err = cli(*args, "--out", tmp_path / "bad", "--set", "loss=triplet")
    assert code == 2 and "not a cross-encoder loss" in err and "Traceback" not in err
