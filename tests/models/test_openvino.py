"""The openvino backend: OpenVINO runs the exported fp32 graph, with the onnx backend's
vectors and scores; without the package, one line."""

import builtins
import threading

import numpy as np
import pytest

from finesim import CrossEncoder, Encoder, FinesimError
from finesim.models.onnx.export import export_onnx
from finesim.models.onnx.format import FILES, ONNX_DIR
from tests.helpers import SENTENCES
from tests.helpers import run_cli as run

pytest.importorskip("openvino")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FINESIM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("batch_size", [1, 5, 32])
def test_vectors_equal_the_onnx_backends_on_padded_batches(tiny_st, cache, batch_size):
    onnx = Encoder(tiny_st, backend="onnx").encode(SENTENCES, batch_size=batch_size)
    openvino = Encoder(tiny_st, backend="openvino")
    assert openvino.backend == "openvino" and openvino.info()["backend"] == "openvino"
    vectors = openvino.encode(SENTENCES, batch_size=batch_size)
    assert np.abs(vectors - onnx).max() <= 1e-5
    torch = Encoder(tiny_st).encode(SENTENCES, batch_size=batch_size)
    assert np.abs(vectors - torch).max() <= 1e-4


def test_it_runs_the_exported_fp32_graph_and_exports_nothing_more(tiny_st, tmp_path, cache):
    folder = export_onnx(Encoder(tiny_st), tmp_path / "exported")
    before = sorted(p.name for p in (folder / ONNX_DIR).iterdir())
    encoder = Encoder(folder, backend="openvino")
    assert encoder._onnx.path == folder / ONNX_DIR / FILES["onnx"]
    assert sorted(p.name for p in (folder / ONNX_DIR).iterdir()) == before
    assert not cache.exists()  # the folder's own export was taken


def test_threads_each_get_their_own_request(tiny_st, cache):
    """A server encodes from several threads; an OpenVINO infer request is not thread-safe."""
    encoder = Encoder(tiny_st, backend="openvino")
    expected = encoder.encode(SENTENCES, batch_size=4)
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(5):
            results.append(encoder.encode(SENTENCES, batch_size=4))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 15
    assert all(np.abs(r - expected).max() <= 1e-6 for r in results)


def test_cross_encoder_scores_equal_the_onnx_backends(tiny_cross, cache):
    pairs = [(SENTENCES[i], SENTENCES[(7 * i + 2) % 30]) for i in range(12)]
    onnx = CrossEncoder(tiny_cross, backend="onnx").predict(pairs, batch_size=5)
    openvino = CrossEncoder(tiny_cross, backend="openvino")
    assert openvino.backend == "openvino"
    np.testing.assert_allclose(openvino.predict(pairs, batch_size=5), onnx, atol=1e-5)


def test_without_the_package_one_line(tiny_st, cache, monkeypatch, capsys):
    Encoder(tiny_st, backend="onnx")  # the export exists: only the missing package is met
    real = builtins.__import__

    def no_openvino(name, *args, **kwargs):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError("no openvino")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openvino)
    with pytest.raises(FinesimError, match=r"pip install 'finesim\[openvino\]'"):
        Encoder(tiny_st, backend="openvino")
    code, _, err = run(capsys, monkeypatch, "info", "--model", tiny_st, "--backend", "openvino")
    assert code == 2
    err = err.strip()
    assert len(err.splitlines()) == 1 and "openvino" in err and "Traceback" not in err
