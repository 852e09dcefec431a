"""ONNX export and the onnx/onnx-int8 backends on the tiny BERT: files, loading, parity."""

import json

import numpy as np
import pytest

from finesim import Encoder, FinesimError
from finesim.models.onnx.backend import cache_folder, default_backend
from finesim.models.onnx.export import export_onnx
from finesim.models.onnx.format import FILES, META_FILE, ONNX_DIR
from tests.helpers import SENTENCES
from tests.helpers import run_cli as run


@pytest.fixture(scope="module")
def exported(tiny_st, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "tiny-onnx"
    return export_onnx(Encoder(tiny_st), out)


def test_export_writes_the_folder(exported):
    names = {p.name for p in (exported / ONNX_DIR).iterdir()}
    assert names == {FILES["onnx"], FILES["onnx-int8"], META_FILE}
    assert (exported / "modules.json").is_file() and (exported / "tokenizer.json").is_file()
    meta = json.loads((exported / ONNX_DIR / META_FILE).read_text())
    assert meta["fused"] is True  # onnxruntime's BERT fusion applied to the eager-traced graph
    assert meta["fp32_max_abs_diff"] <= 1e-4
    assert meta["default_backend"] == "onnx-int8"
    assert default_backend(exported) == "onnx-int8"


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_fp32_matches_torch_on_padded_batches(tiny_st, exported, batch_size):
    reference = Encoder(tiny_st).encode(SENTENCES, batch_size=batch_size)
    onnx = Encoder(exported, backend="onnx")
    assert onnx.backend == "onnx"
    assert np.abs(onnx.encode(SENTENCES, batch_size=batch_size) - reference).max() <= 1e-4


def test_int8_is_close_and_default(tiny_st, exported):
    reference = Encoder(tiny_st).encode(SENTENCES)
    int8 = Encoder(exported)
    assert int8.backend == "onnx-int8" and int8.info()["backend"] == "onnx-int8"
    vectors = int8.encode(SENTENCES)
    cos = (vectors * reference).sum(axis=1)  # both normalised
    assert cos.mean() >= 0.97, cos


def test_normalize_and_torch_backend_of_an_export(exported):
    onnx = Encoder(exported, backend="onnx")
    raw = onnx.encode(SENTENCES[:4], normalize=False)
    unit = onnx.encode(SENTENCES[:4])
    assert np.allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), unit, atol=1e-6)
    assert Encoder(exported, backend="torch").backend == "torch"


def test_on_the_fly_export_goes_to_the_cache_once(tiny_st, tmp_path, monkeypatch):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    first = Encoder(tiny_st, backend="onnx")
    target = cache_folder(tiny_st, Encoder(tiny_st).fingerprint())  # keyed by the weights
    assert first._onnx.path == target / ONNX_DIR / FILES["onnx"]
    stamp = first._onnx.path.stat().st_mtime_ns
    again = Encoder(tiny_st, backend="onnx-int8")
    assert again._onnx.path == target / ONNX_DIR / FILES["onnx-int8"]
    assert first._onnx.path.stat().st_mtime_ns == stamp  # reused, not exported again
    other = Encoder(tiny_st, backend="onnx", pooling="max")  # another graph, another entry
    assert other._onnx.path.parents[1] != target
    assert np.abs(first.encode(SENTENCES) - Encoder(tiny_st).encode(SENTENCES)).max() <= 1e-4


def test_an_export_is_used_only_for_its_own_weights(exported, tmp_path, monkeypatch):
    """Weights replaced under an export, or an export recording no fingerprint (older
    finesims): exported again into the cache, never run with the wrong graph."""
    import shutil

    from tests.helpers import build_tiny_bert

    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    meta = json.loads((exported / ONNX_DIR / META_FILE).read_text())
    assert meta["fingerprint"] == Encoder(exported, backend="torch").fingerprint()
    assert Encoder(exported, backend="onnx")._onnx.path == exported / ONNX_DIR / FILES["onnx"]
    swapped = shutil.copytree(exported, tmp_path / "swapped")
    other = build_tiny_bert(tmp_path / "other", seed=1)
    shutil.copy(other / "model.safetensors", swapped / "model.safetensors")
    encoder = Encoder(swapped, backend="onnx")
    assert encoder._onnx.path.is_relative_to(tmp_path / "cache")
    torch_vectors = Encoder(swapped, backend="torch").encode(SENTENCES)
    assert np.abs(encoder.encode(SENTENCES) - torch_vectors).max() <= 1e-4
    older = shutil.copytree(exported, tmp_path / "older")
    del meta["fingerprint"]
    (older / ONNX_DIR / META_FILE).write_text(json.dumps(meta))
    assert Encoder(older, backend="onnx")._onnx.path.is_relative_to(tmp_path / "cache")


def test_errors(tiny_st, exported):
    with pytest.raises(FinesimError, match="unknown backend"):
        Encoder(tiny_st, backend="tensorrt")
    with pytest.raises(FinesimError, match="exists"):
        export_onnx(Encoder(tiny_st), exported)


def test_cli_export_info_encode(tiny_st, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))  # encode --backend exports
    out = tmp_path / "exported"
    code, stdout, err = run(capsys, monkeypatch, "export", "-m", tiny_st, "--out", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["default_backend"] == "onnx"  # no --quantize: fp32 only
    assert not (out / ONNX_DIR / FILES["onnx-int8"]).exists()
    code, stdout, err = run(capsys, monkeypatch, "info", "-m", out, "--json")
    assert code == 0 and json.loads(stdout)["backend"] == "onnx"
    texts = tmp_path / "in.txt"
    texts.write_text("\n".join(SENTENCES) + "\n")
    args = ["encode", "-m", tiny_st, "--backend", "onnx", "-i", texts, "-o", tmp_path / "v.npy"]
    code, _, err = run(capsys, monkeypatch, *args)
    assert code == 0, err
    expected = Encoder(tiny_st).encode(SENTENCES)
    assert np.abs(np.load(tmp_path / "v.npy") - expected).max() <= 1e-4
    code, _, err = run(capsys, monkeypatch, "export", "-m", tiny_st, "--out", out)
    assert code == 2 and "exists" in err
    code, _, err = run(capsys, monkeypatch, "info", "-m", tiny_st, "--backend", "gpu")
    assert code == 2 and "unknown backend" in err


def test_lasttoken_pooling_exports(tiny_bert, tmp_path):
    enc = Encoder(tiny_bert, pooling="lasttoken")
    out = export_onnx(enc, tmp_path / "last-onnx", int8=False)
    onnx = Encoder(out, backend="onnx")
    got = onnx.encode(SENTENCES, batch_size=4, truncate_dim=8)
    want = enc.encode(SENTENCES, batch_size=4, truncate_dim=8)
    assert np.abs(got - want).max() <= 1e-4
