import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from finesim import FinesimError
from finesim.data.pairs import load_examples, read_file
from finesim.training import TrainConfig, load_config, train
from finesim.training.config import recipe_names
from tests.helpers import REPO, SENTENCES, build_tiny_bert, require_data


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    with path.open("w") as f:
        for i in range(400):
            f.write(json.dumps({"anchor": SENTENCES[i % 30], "positive": SENTENCES[(i + 1) % 30]}))
            f.write("\n")
    return path


@pytest.fixture(scope="module")
def tiny_no_dropout(tmp_path_factory):
    folder = build_tiny_bert(tmp_path_factory.mktemp("nodrop") / "bert")
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _losses(out):
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if "loss" in r]


def test_recipes_load_with_the_papers_settings():
    assert set(recipe_names()) >= {
        "sbert-nli",
        "sbert-sts",
        "simcse-unsup",
        "simcse-sup",
        "aspire-cocite",
    }
    sup = load_config("simcse-sup")
    assert (sup.batch_size, sup.mini_batch, sup.lr, sup.loss_args["temperature"]) == (
        512,
        64,
        5e-5,
        0.05,
    )
    unsup = load_config("simcse-unsup", ["epochs=2", "loss_args={temperature: 0.1}"])
    assert unsup.epochs == 2 and unsup.loss_args == {"temperature": 0.1}
    aspire = load_config("aspire-cocite")
    assert (aspire.optimizer, aspire.lr, aspire.warmup_steps) == ("adam", 2e-5, 1000)
    with pytest.raises(FinesimError, match="unknown setting 'epoch'"):
        load_config("sbert-sts", ["epoch=3"])
    with pytest.raises(FinesimError, match="must be a number"):
        load_config("sbert-sts", ["lr=fast"])
    with pytest.raises(FinesimError, match="unknown recipe"):
        load_config("bert-magic")


def test_data_readers_name_bad_rows(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("sentence1,sentence2,score\na,b,3.5\nc,d,high\n")
    with pytest.raises(FinesimError, match=r"s.csv:3: label 'high' is not a number"):
        read_file(f, "scored")
    f = tmp_path / "t.jsonl"
    f.write_text('{"anchor": "a", "positive": "b", "negative": "c"}\n{"anchor": "a"}\n')
    with pytest.raises(FinesimError, match=r"t.jsonl:2: no field 'positive'"):
        read_file(f, "triples")
    f = tmp_path / "c.jsonl"
    f.write_text('{"a": "x", "b": "y"}\n')
    assert read_file(f, "cocite")[0].texts == {"anchor": "x", "positive": "y"}
    f = tmp_path / "l.tsv"
    f.write_text("sentence1\tsentence2\tlabel\np\th\tcontradiction\n")
    assert read_file(f, "labelled")[0].label == 2.0
    (tmp_path / "u.txt").write_text("one\n\ntwo\n")
    assert [e.texts["anchor"] for e in read_file(tmp_path / "u.txt", "text")] == ["one", "two"]


def test_loss_goes_down_and_outputs_are_models(tiny_st, pairs_file, tmp_path):
    config = TrainConfig(
        data=str(pairs_file), batch_size=16, epochs=3, lr=1e-3, log_every=5, checkpoint_every=0
    )
    summary = train(config, str(tiny_st), tmp_path / "run")
    losses = _losses(tmp_path / "run")
    assert summary["steps"] == 75 and np.mean(losses[-3:]) < 0.85 * np.mean(losses[:3])
    from finesim import Encoder

    assert Encoder(tmp_path / "run" / "last").encode("a cat").shape == (32,)
    with pytest.raises(FinesimError, match="not empty"):
        train(config, str(tiny_st), tmp_path / "run")


def test_sts_regression_with_evaluator_keeps_the_best(tiny_st, tmp_path):
    require_data("sts")
    examples = load_examples("stsb-train", "scored")[:64]
    config = TrainConfig(
        loss="cosine", batch_size=16, epochs=2, lr=5e-4, evaluator="stsb-dev", checkpoint_every=0
    )
    summary = train(config, str(tiny_st), tmp_path / "run", examples=examples)
    assert summary["best"] is not None and (tmp_path / "run" / "best" / "modules.json").is_file()
    evals = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals if "eval" in e] == [4, 8]


def _run(args, env, **kw):
    return subprocess.run(args, env=env, capture_output=True, text=True, **kw)


def test_killed_run_resumes_to_the_same_weights(tiny_st, pairs_file, tmp_path):
    """SIGKILL mid-epoch, --resume: the final weights equal an uninterrupted run's."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    base = [
        sys.executable,
        "-m",
        "finesim",
        "train",
        "-m",
        str(tiny_st),
        "--data",
        str(pairs_file),
        "--set",
        "batch_size=4",
        "--set",
        "epochs=2",
        "--set",
        "checkpoint_every=7",
        "--set",
        "lr=1e-3",
    ]
    whole = _run([*base, "--out", str(tmp_path / "whole")], env, check=True)
    assert whole.returncode == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen([*base, "--out", str(out)], env=env, stderr=subprocess.PIPE)
    state = out / "last" / "trainer_state.pt"
    deadline = time.time() + 120
    while not state.exists():
        assert proc.poll() is None and time.time() < deadline, "finished before the kill"
        time.sleep(0.01)
    time.sleep(0.3)  # mid-epoch, past the checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    import torch

    killed_at = torch.load(state, weights_only=True)["step"]
    assert 0 < killed_at < 200, killed_at
    resumed = _run([*base, "--out", str(out), "--resume", "--json"], env, check=True)
    assert json.loads(resumed.stdout)["steps"] == 200
    a = load_file(str(tmp_path / "whole" / "last" / "trainer_model.safetensors"))
    b = load_file(str(out / "last" / "trainer_model.safetensors"))
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    print(f"\nkilled at step {killed_at}, resumed: max abs weight difference {worst:.2e}")
    assert worst <= 1e-6


def test_two_processes_follow_the_single_process_loss_curve(tiny_no_dropout, pairs_file, tmp_path):
    """torchrun, 2 processes x batch 8 with gathered negatives == 1 process x batch 16."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    common = [
        "train",
        "-m",
        str(tiny_no_dropout),
        "--data",
        str(pairs_file),
        "--set",
        "batch_size=16",
        "--set",
        "max_steps=12",
        "--set",
        "log_every=1",
        "--set",
        "checkpoint_every=0",
        "--set",
        "lr=1e-3",
    ]
    one = _run([sys.executable, "-m", "finesim", *common, "--out", str(tmp_path / "one")], env)
    assert one.returncode == 0, one.stderr[-2000:]
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "finesim",
    ]
    two = _run([*torchrun, *common, "--out", str(tmp_path / "two")], env, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    worst = float(np.max(np.abs(np.array(a) - np.array(b))))
    print(f"\n1 process vs 2 processes, 12 steps: max loss difference {worst:.2e}")
    assert len(a) == len(b) == 12 and worst <= 1e-4


def _small(**overrides):
    settings = {"batch_size": 16, "max_steps": 6, "log_every": 1, "lr": 1e-3}
    return TrainConfig(**{**settings, **overrides})


def test_resume_without_a_checkpoint_says_so_and_metrics_continue(
    tiny_st, pairs_file, tmp_path, caplog
):
    """A run killed before its first checkpoint left metrics of steps 1-3 (and half a line):
    --resume says it starts at step 0, and metrics.jsonl holds each step once."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in (1, 2, 3)) + '{"step": 4'
    )
    examples = load_examples(str(pairs_file), "pairs")
    with caplog.at_level("WARNING", logger="finesim"):
        train(_small(checkpoint_every=0), str(tiny_st), out, resume=True, examples=examples)
    assert f"no checkpoint in {out} yet; starting at step 0" in caplog.text
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_resume_puts_back_a_half_replaced_checkpoint(tiny_st, pairs_file, tmp_path, caplog):
    """An older finesim killed between its two renames left ``last`` under ``.last.old-PID``:
    --resume puts it back and goes on from its step, never from 0 without a word."""
    out = tmp_path / "run"
    examples = load_examples(str(pairs_file), "pairs")
    train(_small(max_steps=3), str(tiny_st), out, examples=examples)
    (out / "last").rename(out / ".last.old-4194999")  # no such pid: a dead writer's
    with open(out / "metrics.jsonl", "a") as f:  # what it logged after its checkpoint
        f.write(json.dumps({"step": 4, "loss": 1.0}) + "\n")
    with caplog.at_level("INFO", logger="finesim"):
        summary = train(_small(), str(tiny_st), out, resume=True, examples=examples)
    assert "put back from" in caplog.text and "resuming at step 3" in caplog.text
    assert summary["steps"] == 6 and sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "last",
        "metrics.jsonl",
    ]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_resume_stops_at_a_folder_that_is_not_a_whole_checkpoint(tiny_st, pairs_file, tmp_path):
    out = tmp_path / "run"
    examples = load_examples(str(pairs_file), "pairs")
    train(_small(max_steps=2), str(tiny_st), out, examples=examples)
    (out / "last" / "trainer_state.pt").unlink()
    with pytest.raises(FinesimError, match="not a complete checkpoint .trainer_state.pt missing"):
        train(_small(), str(tiny_st), out, resume=True, examples=examples)
