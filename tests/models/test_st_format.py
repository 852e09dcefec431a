import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sentence_transformers import SentenceTransformer

from finesim import Encoder, FinesimError
from finesim.models.dense import Dense
from tests.helpers import SENTENCES


@pytest.mark.parametrize("pooling", ["mean", "cls-before-pooler", "max", "weighted-mean", "cls"])
def test_sentence_transformers_loads_what_finesim_saves(tiny_bert, tmp_path, pooling):
    enc = Encoder(tiny_bert, pooling=pooling, normalize=True)
    ours = enc.encode(SENTENCES)
    enc.save(tmp_path / "m")
    theirs = SentenceTransformer(str(tmp_path / "m"), device="cpu").encode(SENTENCES)
    assert np.abs(ours - theirs).max() <= 1e-5
    again = Encoder(tmp_path / "m").encode(SENTENCES)
    assert np.abs(ours - again).max() <= 1e-6
    assert not list((tmp_path / "m").rglob("*.bin"))  # safetensors only


def test_dense_and_normalize_modules_round_trip(tiny_bert, tmp_path):
    enc = Encoder(tiny_bert, pooling="mean", normalize=True)
    torch.manual_seed(3)
    enc.dense.append(Dense(32, 16, True, "torch.nn.modules.activation.Tanh"))
    ours = enc.encode(SENTENCES)
    assert ours.shape == (len(SENTENCES), 16) and enc.dim == 16
    enc.save(tmp_path / "m")
    modules = json.loads((tmp_path / "m" / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == [
        "Transformer",
        "Pooling",
        "Dense",
        "Normalize",
    ]
    theirs = SentenceTransformer(str(tmp_path / "m"), device="cpu").encode(SENTENCES)
    assert np.abs(ours - theirs).max() <= 1e-5
    assert np.abs(Encoder(tmp_path / "m").encode(SENTENCES) - ours).max() <= 1e-6


def test_finesim_loads_what_sentence_transformers_saves(tiny_st, tmp_path):
    model = SentenceTransformer(str(tiny_st), device="cpu")
    model.save(str(tmp_path / "st"))
    theirs = model.encode(SENTENCES)
    ours = Encoder(tmp_path / "st").encode(SENTENCES)
    assert np.abs(ours - theirs).max() <= 1e-5


def test_first_last_pooling_is_kept_for_finesim(tiny_bert, tmp_path):
    enc = Encoder(tiny_bert, pooling="mean-first-last")
    enc.save(tmp_path / "m")
    again = Encoder(tmp_path / "m")
    assert again.pooling == ("mean-first-last",)
    assert np.abs(again.encode(SENTENCES) - enc.encode(SENTENCES)).max() <= 1e-6


def test_save_refuses_to_overwrite_and_is_atomic(tiny_st, tmp_path):
    enc = Encoder(tiny_st)
    enc.save(tmp_path / "m")
    with pytest.raises(FinesimError, match="exists"):
        enc.save(tmp_path / "m")
    enc.save(tmp_path / "m", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp folders left
    with pytest.raises(FinesimError, match="no such folder"):
        enc.save(tmp_path / "missing" / "m")


def _pickled_copy(src, dst):
    shutil.copytree(src, dst)
    state = load_file(str(dst / "model.safetensors"))
    (dst / "model.safetensors").unlink()
    torch.save(state, dst / "pytorch_model.bin")
    return dst


def test_pickled_weights_are_refused_unless_trusted(tiny_bert, tmp_path):
    folder = _pickled_copy(tiny_bert, tmp_path / "pickled")
    with pytest.raises(FinesimError, match="--trust-pickle"):
        Encoder(folder)
    trusted = Encoder(folder, trust_pickle=True).encode(SENTENCES)
    assert np.abs(trusted - Encoder(tiny_bert).encode(SENTENCES)).max() <= 1e-6


def test_pickled_dense_is_refused_unless_trusted(tiny_bert, tmp_path):
    enc = Encoder(tiny_bert)
    enc.dense.append(Dense(32, 8))
    enc.save(tmp_path / "m")
    dense_dir = tmp_path / "m" / "2_Dense"
    state = load_file(str(dense_dir / "model.safetensors"))
    (dense_dir / "model.safetensors").unlink()
    torch.save(state, dense_dir / "pytorch_model.bin")
    with pytest.raises(FinesimError, match="pickled"):
        Encoder(tmp_path / "m")
    assert Encoder(tmp_path / "m", trust_pickle=True).dim == 8


def test_folders_that_are_no_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FinesimError, match="not a model folder"):
        Encoder(tmp_path / "empty")
    with pytest.raises(FinesimError, match="unknown model"):
        Encoder("no-such-model")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(FinesimError, match="is a file"):
        Encoder(tmp_path / "f.txt")


def test_unknown_module_type_is_refused(tiny_st, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_st, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules.append(
        {"idx": 9, "name": "9", "path": "", "type": "sentence_transformers.models.LayerNorm"}
    )
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(FinesimError, match="unsupported module type"):
        Encoder(folder)


def test_pooling_config_in_the_sentence_transformers_6_format(tiny_st, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_st, folder)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"embedding_dimension": 32, "pooling_mode": "max", "include_prompt": True})
    )
    assert Encoder(folder).pooling == ("max",)


def _st_lasttoken(tiny_bert, folder):
    from sentence_transformers import models

    word = models.Transformer(str(tiny_bert))
    pooling = models.Pooling(word.get_embedding_dimension(), pooling_mode="lasttoken")
    SentenceTransformer(modules=[word, pooling], device="cpu").save(str(folder))
    return SentenceTransformer(str(folder), device="cpu")


def test_lasttoken_pooling_matches_sentence_transformers_both_ways(tiny_bert, tmp_path):
    model = _st_lasttoken(tiny_bert, tmp_path / "st")
    theirs = model.encode(SENTENCES)
    enc = Encoder(tmp_path / "st")
    assert enc.pooling == ("lasttoken",)
    assert np.abs(enc.encode(SENTENCES, batch_size=4) - theirs).max() <= 1e-5
    enc.save(tmp_path / "ours")
    again = SentenceTransformer(str(tmp_path / "ours"), device="cpu").encode(SENTENCES)
    assert np.abs(again - theirs).max() <= 1e-5
    legacy = json.loads((tmp_path / "ours" / "1_Pooling" / "config.json").read_text())
    assert legacy["pooling_mode_lasttoken"] is True


@pytest.mark.parametrize("normalize", [False, True])
def test_truncate_dim_matches_sentence_transformers(tiny_bert, tmp_path, normalize):
    Encoder(tiny_bert, pooling="mean", normalize=normalize).save(tmp_path / "m")
    st = SentenceTransformer(str(tmp_path / "m"), device="cpu", truncate_dim=12)
    theirs = st.encode(SENTENCES)
    enc = Encoder(tmp_path / "m", truncate_dim=12)
    ours = enc.encode(SENTENCES)
    assert enc.dim == 12 and ours.shape == (len(SENTENCES), 12)
    if normalize:  # sentence-transformers cuts its unit vectors; finesim normalises again
        theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.abs(ours - theirs).max() <= 1e-5
    full = Encoder(tmp_path / "m")
    per_call = full.encode(SENTENCES, truncate_dim=12)
    assert np.abs(per_call - ours).max() <= 1e-6 and full.dim == 32
    assert enc.spec.truncate_dim == 12 and enc.fingerprint() != full.fingerprint()


@pytest.mark.parametrize("bad", [0, -3, 33])
def test_truncate_dim_out_of_range_names_the_value(tiny_st, bad):
    with pytest.raises(FinesimError, match=f"truncate_dim {bad}"):
        Encoder(tiny_st, truncate_dim=bad)
    with pytest.raises(FinesimError, match=f"truncate_dim {bad}"):
        Encoder(tiny_st).encode(["a"], truncate_dim=bad)
