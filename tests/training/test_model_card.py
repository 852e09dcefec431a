import dataclasses
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from finesim.training import load_config, train
from finesim.training import model_card as mc
from tests.helpers import REPO, SENTENCES, require_data


def _card(folder):
    """(front matter, body) of ``folder/README.md``."""
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(front), body


def _row(body, label):
    """The cells of the table row that starts with ``label``."""
    lines = [line for line in body.splitlines() if line.startswith(f"| {label} |")]
    assert len(lines) == 1, (label, lines)
    return [cell.strip() for cell in lines[0].strip("|").split("|")][1:]


def _settings_are_listed(body, config):
    for f in dataclasses.fields(config):
        if f.name == "recipe":
            continue
        value = getattr(config, f.name)
        text = value if isinstance(value, str) else json.dumps(value)
        assert _row(body, f.name) == [f"`{text}`" if text else '`""`'], f.name


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    with path.open("w") as f:
        for i in range(200):
            f.write(json.dumps({"anchor": SENTENCES[i % 30], "positive": SENTENCES[(i + 1) % 30]}))
            f.write("\n")
    return path


@pytest.fixture(scope="module")
def plain_run(tiny_st, pairs_file, tmp_path_factory):
    """A run without an evaluator, from a recipe file, checkpointing mid-run and at the end."""
    recipe = tmp_path_factory.mktemp("recipe") / "mine.yaml"
    recipe.write_text("loss: infonce\nbatch_size: 16\nmax_steps: 6\nlr: 1.0e-3\n")
    config = load_config(str(recipe), [f"data={pairs_file}", "checkpoint_every=4"])
    out = tmp_path_factory.mktemp("plain") / "run"
    summary = train(config, str(tiny_st), out)
    return config, out, summary


def test_a_run_without_evaluator_has_a_card_in_last(plain_run, pairs_file, tiny_st):
    config, out, summary = plain_run
    assert not (out / "best").exists()
    front, body = _card(out / "last")
    assert front["library_name"] == "sentence-transformers"
    assert front["pipeline_tag"] == "sentence-similarity"
    assert "finesim" in front["tags"]
    assert "base_model" not in front and "model-index" not in front  # a local folder, no eval
    sha = hashlib.sha256(pairs_file.read_bytes()).hexdigest()
    assert _row(body, str(pairs_file)) == [str(pairs_file.stat().st_size), sha]
    assert "200 examples" in body
    assert f"Recipe: `{config.recipe}`" in body and config.recipe.endswith("mine.yaml")
    _settings_are_listed(body, config)
    assert "No evaluator was set" in body
    assert f"the final model, at step {summary['steps']} of 6" in body
    assert f"`{tiny_st}`" in body
    state = torch.load(out / "last" / "trainer_state.pt", weights_only=True)
    assert f"in {state['seconds']:.1f} wall seconds" in body and state["seconds"] > 0
    import transformers

    assert f"torch {torch.__version__}" in body
    assert f"transformers {transformers.__version__}" in body
    assert f'finesim.Encoder("{out / "last"}")' in body
    assert f'SentenceTransformer("{out / "last"}")' in body


def test_sentence_transformers_loads_the_folder_with_its_card(plain_run):
    from sentence_transformers import SentenceTransformer

    from finesim import Encoder

    folder = plain_run[1] / "last"
    ours = Encoder(folder).encode(SENTENCES[:10])
    theirs = SentenceTransformer(str(folder), device="cpu").encode(SENTENCES[:10])
    assert float(np.abs(ours - theirs).max()) <= 1e-5


def test_data_files_are_hashed_in_chunks(tmp_path, monkeypatch):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(3 * 1000 + 7))
    monkeypatch.setattr(mc, "_CHUNK", 1000)  # four reads
    assert mc.sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert mc.describe_data(str(tmp_path / "absent.jsonl"), None)["files"] == []


def test_built_in_sources_name_their_files_and_data_set():
    require_data("sts")
    facts = mc.describe_data("stsb-train", 5749)
    assert facts["dataset"] == "sentence-transformers/stsb"
    assert [f["path"].endswith("sts-train.csv") for f in facts["files"]] == [True]
    assert mc.hub_id("minilm") == "sentence-transformers/all-MiniLM-L6-v2"


def _cards_match_the_log_and_state(out, config, data_file, metric):
    """Both cards give the figures that metrics.jsonl and trainer_state.pt hold."""
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval" in r]
    best, last = max(evals, key=lambda r: r["score"]), evals[-1]
    state = torch.load(out / "last" / "trainer_state.pt", weights_only=True)
    assert state["best_eval"] == best and state["last_eval"] == last
    assert best != last  # so that a card mixing them up fails
    for folder, own in (("last", last), ("best", best)):
        front, body = _card(out / folder)
        assert front["metrics"] == [metric]
        assert "datasets" not in front  # a file of our own: no hub data set to name
        [result] = front["model-index"][0]["results"]
        assert result["dataset"]["name"] == config.evaluator
        assert result["metrics"][0]["value"] == own["score"]
        assert _row(body, "best") == [str(best["step"]), str(best["epoch"]), str(best["score"])]
        assert _row(body, "last evaluation") == [
            str(last["step"]),
            str(last["epoch"]),
            str(last["score"]),
        ]
        assert hashlib.sha256(data_file.read_bytes()).hexdigest() in body
        _settings_are_listed(body, config)
    best_body = _card(out / "best")[1]
    assert f"the best evaluation of the run ({config.evaluator}), at step {best['step']}" in (
        best_body
    )
    return evals


def test_cards_give_the_evaluators_best_and_last_figures(
    tiny_st, pairs_file, tmp_path, monkeypatch
):
    """An evaluator that scores 0.3, 0.7, 0.5 (fast; the real one is in the slow test)."""
    scores = iter([0.3, 0.7, 0.5])
    monkeypatch.setattr(
        "finesim.training.trainer.build_evaluator",
        lambda name: lambda encoder: {"primary": "spearman", "score": next(scores)},
    )
    config = load_config(
        None,
        [f"data={pairs_file}", "batch_size=16", "max_steps=6", "eval_every=2", "evaluator=x"],
    )
    train(config, str(tiny_st), tmp_path / "run")
    evals = _cards_match_the_log_and_state(tmp_path / "run", config, pairs_file, "spearman")
    assert [(e["step"], e["score"]) for e in evals] == [(2, 0.3), (4, 0.7), (6, 0.5)]
    assert "Recipe: none" in _card(tmp_path / "run" / "last")[1]


@pytest.mark.slow
def test_stsb_dev_figures_match_the_trainers_log_and_state(tiny_st, tmp_path):
    require_data("sts")
    from finesim.data.sts import load_stsb

    train_pairs = load_stsb("train")
    data = tmp_path / "scored.tsv"
    rows = zip(train_pairs.sentences1, train_pairs.sentences2, train_pairs.scores, strict=True)
    lines = [f"{a}\t{b}\t{s}\n" for (a, b, s), _ in zip(rows, range(64), strict=False)]
    data.write_text("sentence1\tsentence2\tscore\n" + "".join(lines))
    config = load_config("sbert-sts", [f"data={data}", "epochs=3", "lr=5e-4", "checkpoint_every=0"])
    train(config, str(tiny_st), tmp_path / "run")
    evals = _cards_match_the_log_and_state(tmp_path / "run", config, data, "spearman")
    assert [e["step"] for e in evals] == [4, 8, 12]
    assert "Recipe: `sbert-sts`" in _card(tmp_path / "run" / "best")[1]


KILLED_WRITE = """
import os, signal, sys
from pathlib import Path
import torch
from finesim.models.encoder import Encoder
from finesim.training import checkpoint, model_card

last = Path(sys.argv[1])
card = model_card.Card(
    path=str(last), base_model="x", config=__import__("finesim").training.TrainConfig(),
    data={"source": "", "examples": 1, "files": [], "dataset": None},
    step=99, run_steps=99, total_steps=99, seconds=1.0,
)

def killed(folder, card):
    with open(folder / model_card.FILENAME, "w") as f:
        f.write(model_card.render(card)[:200])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

model_card.write = killed
checkpoint.save(last, Encoder(last), {"step": 99}, card)
"""


def test_a_save_killed_while_writing_the_card_leaves_the_old_checkpoint(plain_run):
    """SIGKILL halfway through README.md: last/ still holds the old checkpoint and its whole
    card (the card is written before the swap); the next save removes the dead writer's
    leftovers."""
    from finesim._util import atomic

    out = plain_run[1]
    before = (out / "last" / "README.md").read_text()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITE, str(out / "last")], env=env, capture_output=True
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    leftovers = [p for p in out.iterdir() if p.name.startswith(".last.tmp-")]
    assert len(leftovers) == 1 and (leftovers[0] / "README.md").stat().st_size == 200
    assert (out / "last" / "README.md").read_text() == before
    state = torch.load(out / "last" / "trainer_state.pt", weights_only=True)
    assert state["step"] == 6
    atomic.recover(out / "last")  # what the next save, or --resume, does first
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "last", "metrics.jsonl"]
