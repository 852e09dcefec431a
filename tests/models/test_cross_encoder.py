"""``finesim.CrossEncoder`` against sentence-transformers 6.2's CrossEncoder, both ways."""

import json
import shutil

import numpy as np
import pytest
import torch

from finesim import CrossEncoder, FinesimError
from tests.helpers import SENTENCES, build_tiny_cross, require_module

st = require_module("sentence_transformers", "the reference for the CrossEncoder format")

LONG = " ".join(SENTENCES)  # longer than the tiny model's 64 tokens: truncated
PAIRS = [(a, b) for a, b in zip(SENTENCES[:10], SENTENCES[3:13], strict=True)]
PAIRS += [("a man plays the guitar", LONG), (LONG, "dog"), ("dog", "dog")]
QUERY = "a man plays the guitar"
DOCS = SENTENCES[:10]


def reference(folder, **options):
    return st.CrossEncoder(str(folder), device="cpu", **options)


@pytest.fixture(scope="module")
def tiny_nli(tiny_bert, tmp_path_factory):
    return build_tiny_cross(tmp_path_factory.mktemp("nli") / "model", tiny_bert, num_labels=3)


def test_scores_equal_sentence_transformers_on_its_folder(tiny_cross):
    ours, theirs = CrossEncoder(tiny_cross), reference(tiny_cross)
    assert ours.num_labels == 1 and ours.activation == "sigmoid" and ours.max_length == 64
    expected = theirs.predict(PAIRS)
    for batch_size in (1, 4, 32):
        np.testing.assert_allclose(ours.predict(PAIRS, batch_size=batch_size), expected, atol=1e-5)
    assert float(np.ptp(expected)) > 0.05  # the scores spread: the comparison can fail
    assert ours.stats.pairs == len(PAIRS) and ours.stats.truncated == 2
    logits = theirs.predict(PAIRS, activation_fn=torch.nn.Identity())
    np.testing.assert_allclose(ours.predict(PAIRS, activation="identity"), logits, atol=1e-5)
    one = ours.predict(PAIRS[0])
    assert isinstance(one, np.floating) and abs(one - expected[0]) < 1e-5


def test_rank_equals_sentence_transformers(tiny_cross):
    ours, theirs = CrossEncoder(tiny_cross), reference(tiny_cross)
    got = ours.rank(QUERY, DOCS, return_documents=True)
    want = theirs.rank(QUERY, DOCS, return_documents=True)
    assert [h["corpus_id"] for h in got] == [h["corpus_id"] for h in want]
    np.testing.assert_allclose([h["score"] for h in got], [h["score"] for h in want], atol=1e-5)
    assert all(h["text"] == DOCS[h["corpus_id"]] for h in got)
    scores = [h["score"] for h in got]
    assert scores == sorted(scores, reverse=True)
    top = ours.rank(QUERY, DOCS, top_k=3)
    assert top == [{"corpus_id": h["corpus_id"], "score": h["score"]} for h in got[:3]]
    assert ours.rank(QUERY, []) == []


def test_sentence_transformers_loads_what_finesim_saves(tiny_cross, tmp_path):
    ours = CrossEncoder(tiny_cross)
    out = ours.save(tmp_path / "saved")
    assert not list(out.glob("*.bin")) and (out / "model.safetensors").is_file()
    for name in ("modules.json", "sentence_bert_config.json"):
        assert json.loads((out / name).read_text()) == json.loads((tiny_cross / name).read_text())
    settings = json.loads((out / "config_sentence_transformers.json").read_text())
    assert settings["model_type"] == "CrossEncoder"
    assert settings["activation_fn"] == "torch.nn.modules.activation.Sigmoid"
    theirs = reference(out)
    np.testing.assert_allclose(theirs.predict(PAIRS), ours.predict(PAIRS), atol=1e-5)
    assert theirs.max_seq_length == 64
    with pytest.raises(FinesimError, match="exists"):
        ours.save(out)


def test_fresh_head_round_trip_and_shorter_limit(tiny_bert, tiny_st, tmp_path):
    torch.manual_seed(1)
    fresh = CrossEncoder(tiny_bert, max_length=16, activation="identity")
    assert fresh.fresh_head and fresh.num_labels == 1 and fresh.max_length == 16
    out = fresh.save(tmp_path / "fresh")
    theirs = reference(out)
    assert theirs.max_seq_length == 16
    logits = theirs.predict(PAIRS)  # the saved activation (identity): logits
    np.testing.assert_allclose(logits, fresh.predict(PAIRS), atol=1e-5)
    again = CrossEncoder(out)
    assert not again.fresh_head and again.activation == "identity" and again.max_length == 16
    np.testing.assert_allclose(again.predict(PAIRS), logits, atol=1e-5)
    encoder_folder = CrossEncoder(tiny_st, num_labels=2)  # a sentence encoder's transformer
    assert encoder_folder.fresh_head and encoder_folder.predict(PAIRS).shape == (len(PAIRS), 2)


def test_three_labels(tiny_nli, tmp_path):
    ours, theirs = CrossEncoder(tiny_nli), reference(tiny_nli)
    assert ours.num_labels == 3 and ours.activation == "identity"
    scores = ours.predict(PAIRS)
    assert scores.shape == (len(PAIRS), 3)
    np.testing.assert_allclose(scores, theirs.predict(PAIRS), atol=1e-5)
    probs = ours.predict(PAIRS, activation="softmax")
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(probs, theirs.predict(PAIRS, apply_softmax=True), atol=1e-5)
    assert ours.predict(PAIRS[0]).shape == (3,)
    with pytest.raises(FinesimError, match="3 labels"):
        ours.rank(QUERY, DOCS)
    with pytest.raises(FinesimError, match="3 labels, not num_labels=1"):
        CrossEncoder(tiny_nli, num_labels=1)
    saved = reference(ours.save(tmp_path / "nli"))
    np.testing.assert_allclose(saved.predict(PAIRS), scores, atol=1e-5)


def test_reads_older_sentence_transformers_folders(tiny_cross, tmp_path):
    """4.x/5.x: no modules.json, the activation in config.json; 3.x: another key."""
    for key, value in (
        ("sentence_transformers", {"activation_fn": "torch.nn.modules.linear.Identity"}),
        ("sbert_ce_default_activation_function", "torch.nn.modules.linear.Identity"),
    ):
        old = tmp_path / key
        shutil.copytree(tiny_cross, old)
        for name in ("modules.json", "sentence_bert_config.json"):
            (old / name).unlink()
        (old / "config_sentence_transformers.json").unlink()
        config = json.loads((old / "config.json").read_text())
        (old / "config.json").write_text(json.dumps({**config, key: value}))
        ours = CrossEncoder(old)
        assert ours.activation == "identity"
        np.testing.assert_allclose(ours.predict(PAIRS), reference(old).predict(PAIRS), atol=1e-5)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_bad_folders_are_one_line_errors(tiny_cross, tmp_path):
    def fails(folder, *words, **options):
        with pytest.raises(FinesimError) as e:
            CrossEncoder(folder, **options)
        message = str(e.value)
        assert "\n" not in message and all(w in message for w in words), message

    fails(tmp_path / "nowhere", "no such folder")
    (tmp_path / "empty").mkdir()
    fails(tmp_path / "empty", "no config.json")
    corrupt = _copy(tiny_cross, tmp_path / "corrupt")
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    fails(corrupt, "model.safetensors", "corrupt")
    pickled = _copy(tiny_cross, tmp_path / "pickled")
    state = {k: v.clone() for k, v in CrossEncoder(tiny_cross).model.state_dict().items()}
    torch.save(state, pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    fails(pickled, "pickled", "trust-pickle")
    trusted = CrossEncoder(pickled, trust_pickle=True)
    expected = CrossEncoder(tiny_cross).predict(PAIRS)
    np.testing.assert_allclose(trusted.predict(PAIRS), expected, atol=1e-6)
    bad_activation = _copy(tiny_cross, tmp_path / "activation")
    settings = bad_activation / "config_sentence_transformers.json"
    settings.write_text(json.dumps({"activation_fn": "os.system", "model_type": "CrossEncoder"}))
    fails(bad_activation, "config_sentence_transformers.json", "activation_fn", "os.system")
    broken = _copy(tiny_cross, tmp_path / "broken")
    (broken / "modules.json").write_text("[{")
    fails(broken, "modules.json")
    headless = _copy(tiny_cross, tmp_path / "headless")
    config = json.loads((headless / "config.json").read_text())
    (headless / "config.json").write_text(json.dumps({**config, "architectures": ["BertModel"]}))
    fails(headless, "config.json", "no head")
    fails(tiny_cross, "unknown backend", "tensorrt", backend="tensorrt")
    with pytest.raises(TypeError):
        CrossEncoder(tiny_cross).predict(["just one string"])


def test_rerank_command(cli, tiny_cross, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("\n".join(DOCS) + "\n")
    code, out, err = cli(
        "rerank", "-m", tiny_cross, "-q", QUERY, "-d", docs, "--top-k", "3", "--json"
    )
    assert code == 0, err
    expected = CrossEncoder(tiny_cross).rank(QUERY, DOCS, top_k=3)
    results = json.loads(out)["results"]
    assert [r["index"] for r in results] == [h["corpus_id"] for h in expected]
    assert [r["rank"] for r in results] == [1, 2, 3]
    code, out, _ = cli("rerank", "-m", tiny_cross, "-q", QUERY, "-d", docs)
    assert code == 0 and len(out.splitlines()) == len(DOCS)
    code, _, err = cli("rerank", "-m", tmp_path / "none", "-q", QUERY, "-d", docs)
    assert code == 2 and "no such folder" in err and "Traceback" not in err


def test_training_logits_equal_predict_and_carry_gradients(tiny_cross):
    """``logits`` (the trainer's forward) in eval mode: predict's logits in input order, for
    any grouping of the pairs by length, with a graph to backpropagate through."""
    ours = CrossEncoder(tiny_cross)
    expected = ours.predict(PAIRS, activation="identity")
    for bucket in (1, 4, 64):
        logits = ours.logits(PAIRS, bucket=bucket)
        assert logits.shape == (len(PAIRS), 1) and logits.requires_grad
        np.testing.assert_allclose(logits.detach().numpy()[:, 0], expected, atol=1e-5)
    logits.sum().backward()
    assert ours.model.classifier.weight.grad is not None
    assert ours.logits([]).shape == (0, 1)
