import json

import numpy as np
import pytest

from finesim.data.classes import LabelledTexts, load_classes
from finesim.tasks.classify import held_out
from finesim.training import TrainConfig, load_config, train
from finesim.training import classify as classify_training

MUSIC = [f"the {w} plays the guitar" for w in ("man", "woman", "cat", "dog")]
FINANCE = [f"bank rates {w} very fast" for w in ("rise", "fall", "not", "and")]


@pytest.fixture
def labelled_csv(tmp_path):
    path = tmp_path / "topics.csv"
    rows = [f"{t} {i},music" for i, t in enumerate(MUSIC * 5)]
    rows += [f"{t} {i},finance" for i, t in enumerate(FINANCE * 5)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def test_recipe_names_the_center_loss():
    config = load_config("classify-center")
    assert (config.format, config.loss, config.loss_args["center_weight"]) == (
        "classes",
        "center",
        0.01,
    )
    assert config.evaluator == ""


@pytest.mark.parametrize("loss", ["center", "batch-hard-triplet", "batch-all-triplet"])
def test_trainer_reads_classes_and_saves_the_vocabulary(tiny_st, labelled_csv, tmp_path, loss):
    config = TrainConfig(
        data=str(labelled_csv),
        format="classes",
        loss=loss,
        loss_args={"center_weight": 0.5} if loss == "center" else {},
        batch_size=8,
        epochs=2,
        lr=1e-3,
        log_every=1,
        checkpoint_every=0,
    )
    summary = train(config, str(tiny_st), tmp_path / "run", show_progress=False)
    assert summary["steps"] == 10
    assert load_classes(tmp_path / "run" / "last") == ["finance", "music"]
    records = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    losses = [json.loads(r)["loss"] for r in records]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_encoder_never_trains_on_the_held_out_rows(tiny_st, tmp_path, monkeypatch):
    texts = [f"{t} {i}" for i, t in enumerate((MUSIC + FINANCE) * 3)]
    labels = (["music"] * 4 + ["finance"] * 4) * 3
    seen: list[str] = []

    def fake_train(config, model, out, *, examples, classes, show_progress):
        seen.extend(e.texts["anchor"] for e in examples)
        from finesim import Encoder

        out.mkdir()
        Encoder(model).save(out / "last")
        return {"steps": 0}

    monkeypatch.setattr(classify_training, "train", fake_train)
    head, report = classify_training.train_encoder_and_classifier(
        str(tiny_st), LabelledTexts(texts, labels), tmp_path / "enc", test_fraction=0.25
    )
    test = held_out(len(texts), 0.25, 0)
    assert sorted(seen) == sorted(np.array(texts)[~test]) and report["test_rows"] == test.sum()
    assert head.meta["model"] == str((tmp_path / "enc" / "last").resolve())


def test_classify_train_encoder_end_to_end(cli, tiny_st, labelled_csv, tmp_path):
    out = tmp_path / "clf"
    args = ["classify", "train", "--data", labelled_csv, "--out", out, "--model", tiny_st]
    code, stdout, err = cli(*args, "--train-encoder", "--epochs", "2", "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["encoder_training"]["steps"] == 2  # 32 training rows, batch 32: 1 an epoch
    assert report["test_rows"] == 8 and 0 <= report["accuracy"] <= 1
    encoder = tmp_path / "clf-encoder" / "last"
    assert load_classes(encoder) == ["finance", "music"]
    texts = tmp_path / "t.txt"
    texts.write_text("a man plays the guitar\nbank rates rise\n")
    code, stdout, err = cli("classify", "predict", "--classifier", out, "-i", texts, "--json")
    assert code == 0, err
    assert {r["label"] for r in json.loads(stdout)} <= {"music", "finance"}
    code, _, err = cli(*args, "--overwrite", "--train-encoder")
    assert code == 2 and "clf-encoder: exists and is not empty" in err
