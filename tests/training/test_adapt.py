import json

import numpy as np
import pytest

from finesim import Document, Encoder, FinesimError
from finesim.training.adapt import AdaptSettings, adapt, adapt_examples
from tests.helpers import WORDS


@pytest.fixture
def docs_file(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for i in range(24):
        words = rng.choice(WORDS, size=(4, 6))
        sentences = [" ".join(w) for w in words]
        lines.append(
            json.dumps({"id": f"d{i}", "title": " ".join(words[0][:3]), "abstract": sentences})
        )
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_examples_per_objective_use_texts_only():
    docs = [
        Document("a", ["s1", "s2", "s3"], None, "title a"),
        Document("b", ["s4"], None, ""),
    ]
    pairs = adapt_examples(docs, ("simcse", "title-abstract", "same-abstract"), seed=0)
    assert [e.texts["anchor"] for e in pairs["simcse"]] == ["s1", "s2", "s3", "s4"]
    assert all(e.texts["anchor"] == e.texts["positive"] for e in pairs["simcse"])
    assert [(e.texts["anchor"], e.texts["positive"]) for e in pairs["title-abstract"]] == [
        ("title a", "s1 s2 s3")
    ]
    (same,) = pairs["same-abstract"]  # "b" has one sentence: no pair
    assert same.texts["anchor"] != same.texts["positive"]
    with pytest.raises(FinesimError, match="unknown objective"):
        adapt_examples(docs, ("mlm",), seed=0)


def test_adapt_lowers_the_loss_writes_a_model_and_resumes(tiny_st, docs_file, tmp_path):
    settings = AdaptSettings(
        ("simcse", "title-abstract"), steps=40, batch_size=8, lr=5e-4, checkpoint_every=20
    )
    summary = adapt(str(tiny_st), str(docs_file), tmp_path / "run", settings, show_progress=False)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    losses = [r["loss"] for r in map(json.loads, lines) if "loss" in r]
    assert summary["steps"] == 40 and losses[-1] < 0.8 * losses[0]
    record = json.loads((tmp_path / "run" / "adapt.json").read_text())
    assert record["documents"] == 24 and record["pairs"] == {"simcse": 96, "title-abstract": 24}
    assert record["settings"]["objectives"] == ["simcse", "title-abstract"]
    model = Encoder(tmp_path / "run" / "last")
    assert model.encode(["a man plays"]).shape == (1, 32)
    changed = Encoder(tiny_st).encode(["a man plays"]) - model.encode(["a man plays"])
    assert np.abs(changed).max() > 1e-4
    # a finished run resumed does nothing more; a non-empty folder without --resume is refused
    again = adapt(str(tiny_st), str(docs_file), tmp_path / "run", settings, resume=True)
    assert again["steps"] == 40
    with pytest.raises(FinesimError, match="not empty"):
        adapt(str(tiny_st), str(docs_file), tmp_path / "run", settings)
